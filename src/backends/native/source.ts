/**
 * Random-access byte sources for the native readers. Every read is bounds-checked against the source: a reader
 * that computes an offset from untrusted metadata gets a CorruptImageError, never a short buffer or a host read
 * past the image.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { TargetError } from '../../errors.js';

/** The image (or a part of it) is malformed; the message is a one-line reason. */
export class CorruptImageError extends TargetError {
  override name = 'CorruptImageError';
}

/** The image uses something the native reader deliberately does not handle (backing file, encryption...). */
export class UnsupportedImageError extends TargetError {
  override name = 'UnsupportedImageError';
}

export interface ByteSource {
  /** Size in bytes. */
  readonly size: number;
  /** Exactly `length` bytes at `offset`, or a CorruptImageError when the range is outside the source. */
  read(offset: number, length: number): Buffer;
  /** Like read, into the start of `target` (no allocation; for data consumed at once, like directory blocks). */
  readInto?(target: Buffer, offset: number, length: number): void;
  close?(): void;
}

/** Largest single read we ever issue; bigger requests are a sign of corrupt metadata. */
export const MAX_READ = 256 * 1024 * 1024;

export function checkRange(src: { size: number }, offset: number, length: number, what = 'read'): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    length > MAX_READ ||
    offset + length > src.size
  ) {
    throw new CorruptImageError(`${what} out of bounds: ${length} bytes at offset ${offset} (size ${src.size})`);
  }
}

/** A host file opened read-only; reads go straight to pread. */
export class FileSource implements ByteSource {
  readonly size: number;
  private fd: number | null;

  constructor(path: string) {
    this.fd = openSync(path, 'r');
    try {
      const st = fstatSync(this.fd);
      if (!st.isFile() && !st.isBlockDevice()) throw new TargetError('not a regular file');
      this.size = st.size;
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  read(offset: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length);
    this.readInto(buf, offset, length);
    return buf;
  }

  readInto(buf: Buffer, offset: number, length: number): void {
    checkRange(this, offset, length);
    if (length > buf.length) throw new RangeError(`readInto: ${length} bytes do not fit a ${buf.length}-byte buffer`);
    if (this.fd === null) throw new TargetError('image already closed');
    let got = 0;
    while (got < length) {
      const n = readSync(this.fd, buf, got, length - got, offset + got);
      if (n === 0) throw new CorruptImageError(`unexpected end of image at offset ${offset + got}`);
      got += n;
    }
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** An in-memory source (tests, decompressed data). */
export class BufferSource implements ByteSource {
  constructor(private readonly buf: Buffer) {}
  get size(): number {
    return this.buf.length;
  }
  read(offset: number, length: number): Buffer {
    checkRange(this, offset, length);
    return this.buf.subarray(offset, offset + length);
  }
}

/** A window of another source (a partition). */
export class SliceSource implements ByteSource {
  readonly size: number;
  constructor(
    private readonly parent: ByteSource,
    private readonly start: number,
    size: number,
  ) {
    if (start < 0 || size < 0 || start + size > parent.size) {
      throw new CorruptImageError(`partition at byte ${start} (${size} bytes) extends past the end of the image`);
    }
    this.size = size;
  }
  read(offset: number, length: number): Buffer {
    checkRange(this, offset, length);
    return this.parent.read(this.start + offset, length);
  }

  readInto(buf: Buffer, offset: number, length: number): void {
    checkRange(this, offset, length);
    if (this.parent.readInto) this.parent.readInto(buf, this.start + offset, length);
    else this.parent.read(this.start + offset, length).copy(buf, 0);
  }
}

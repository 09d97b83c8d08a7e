/**
 * Random-access byte sources for the native readers. Every read is bounds-checked against the source: a reader
 * that computes an offset from untrusted metadata gets a CorruptImageError, never a short buffer or a host read
 * past the image.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { CorruptImageError, TargetError, UnsupportedImageError } from '../../errors.js';
import { recordReadFailure } from '../../image/read-failures.js';
import { MAX_READ, readLogFor, type ReadLog } from '../../image/readlog.js';

export { CorruptImageError, UnsupportedImageError };

export interface ByteSource {
  /** Size in bytes. */
  readonly size: number;
  /** Exactly `length` bytes at `offset`, or a CorruptImageError when the range is outside the source. */
  read(offset: number, length: number): Buffer;
  /** Like read, into the start of `target` (no allocation; for data consumed at once, like directory blocks). */
  readInto?(target: Buffer, offset: number, length: number): void;
  /** Forget cached data (a reader calls it when its walk is over); the source stays usable. */
  dropCache?(): void;
  close?(): void;
}


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

/** A new buffer of `length` bytes at `offset`, read by the source's readInto (a source whose readInto is its read path). */
export function readFresh(src: { readInto(buf: Buffer, offset: number, length: number): void }, offset: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  src.readInto(buf, offset, length);
  return buf;
}

/** `length` bytes of `src` at `offset` into `buf`: in place when the source can, else read and copied. */
export function readIntoFrom(src: ByteSource, buf: Buffer, offset: number, length: number): void {
  if (src.readInto) src.readInto(buf, offset, length);
  else src.read(offset, length).copy(buf, 0);
}

/** A host file opened read-only; reads go straight to pread. */
export class FileSource implements ByteSource {
  readonly size: number;
  private fd: number | null;
  /** The `--cache` read log when this file is the audited target (every read is recorded: src/image/readlog.ts). */
  private readonly log: ReadLog | null;

  constructor(path: string) {
    this.fd = openSync(path, 'r');
    try {
      const st = fstatSync(this.fd);
      if (!st.isFile() && !st.isBlockDevice()) throw new TargetError('not a regular file');
      this.size = st.size;
      this.log = readLogFor(st);
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  read(offset: number, length: number): Buffer {
    return readFresh(this, offset, length);
  }

  readInto(buf: Buffer, offset: number, length: number): void {
    checkRange(this, offset, length);
    if (length > buf.length) throw new RangeError(`readInto: ${length} bytes do not fit a ${buf.length}-byte buffer`);
    if (this.fd === null) throw new TargetError('image already closed');
    let got = 0;
    while (got < length) {
      let n: number;
      try {
        n = readSync(this.fd, buf, got, length - got, offset + got);
      } catch (err) {
        // Recorded whatever the caller does with the error: the target can no longer be reported complete.
        const why = `read error at offset ${offset + got}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
        recordReadFailure(why);
        throw new TargetError(why);
      }
      if (n === 0) throw new CorruptImageError(`unexpected end of image at offset ${offset + got}`);
      got += n;
    }
    this.log?.record(offset, buf, length);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * A source that calls `check` before every read: the target's deadline (a TimeoutError) reaches the native readers'
 * synchronous loops at their next read, whatever reader it is.
 */
export class CheckedSource implements ByteSource {
  constructor(
    private readonly parent: ByteSource,
    private readonly check: () => void,
  ) {}
  get size(): number {
    return this.parent.size;
  }
  read(offset: number, length: number): Buffer {
    this.check();
    return this.parent.read(offset, length);
  }
  readInto(buf: Buffer, offset: number, length: number): void {
    this.check();
    readIntoFrom(this.parent, buf, offset, length);
  }
  close(): void {
    this.parent.close?.();
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
    readIntoFrom(this.parent, buf, this.start + offset, length);
  }
}

/** One piece of a file: `length` bytes at file offset `logical`, stored at `physical` in the parent (-1: a hole). */
export interface FileExtent {
  logical: number;
  physical: number;
  length: number;
}

/**
 * A regular file inside a filesystem, as a random-access source of its own (a filesystem image stored in a
 * filesystem: the NixOS ISO's /nix-store.squashfs). Extents must be sorted by `logical`; bytes no extent covers read
 * as zeros (holes, sparse tails).
 */
export class ExtentSource implements ByteSource {
  private readonly starts: Float64Array;
  constructor(
    private readonly parent: ByteSource,
    readonly size: number,
    private readonly extents: FileExtent[],
  ) {
    this.starts = new Float64Array(extents.length);
    let end = 0;
    for (let i = 0; i < extents.length; i++) {
      const e = extents[i]!;
      if (e.logical < end || e.length < 0 || (e.physical >= 0 && e.physical + e.length > parent.size)) {
        throw new CorruptImageError(`file extent ${i} (${e.length} bytes at ${e.physical}) overlaps another or lies outside the image`);
      }
      this.starts[i] = e.logical;
      end = e.logical + e.length;
    }
  }

  read(offset: number, length: number): Buffer {
    checkRange(this, offset, length);
    const out = Buffer.alloc(length);
    this.readInto(out, offset, length);
    return out;
  }

  readInto(buf: Buffer, offset: number, length: number): void {
    checkRange(this, offset, length);
    // First extent that may cover `offset` (binary search on the sorted starts).
    let lo = 0;
    let hi = this.extents.length - 1;
    let i = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid]! <= offset) {
        i = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    buf.fill(0, 0, length);
    const end = offset + length;
    for (; i < this.extents.length; i++) {
      const e = this.extents[i]!;
      if (e.logical >= end) break;
      const from = Math.max(offset, e.logical);
      const to = Math.min(end, e.logical + e.length);
      if (to <= from || e.physical < 0) continue;
      const n = to - from;
      const at = e.physical + (from - e.logical);
      readIntoFrom(this.parent, buf.subarray(from - offset), at, n);
    }
  }
}

/** Size of one cached window of a WindowCache, and how many it keeps. */
export const WINDOW = 64 * 1024;
const WINDOWS = 64;

/**
 * Small reads served from a few large aligned windows of another source (least recently used first out): a
 * filesystem walk asks for tens of thousands of 4 KiB directory blocks and symlink targets that mostly sit next to
 * each other, and one pread per window instead of one per block is what makes listing as fast as sleuthkit.
 * Reads larger than a window go straight to the source. Memory: at most WINDOWS * WINDOW bytes.
 */
export class WindowCache implements ByteSource {
  readonly size: number;
  private readonly windows = new Map<number, Buffer>();
  /** The window read last (null after a drop). */
  private lastN = -1;
  private lastW: Buffer | null = null;

  constructor(private readonly parent: ByteSource) {
    this.size = parent.size;
  }

  private window(n: number): Buffer {
    // The window read last is already the most recently used one.
    if (n === this.lastN && this.lastW) return this.lastW;
    let w = this.windows.get(n);
    if (w) {
      // Most recently used last.
      this.windows.delete(n);
      this.windows.set(n, w);
      this.lastN = n;
      this.lastW = w;
      return w;
    }
    const start = n * WINDOW;
    const len = Math.min(WINDOW, this.size - start);
    if (this.windows.size >= WINDOWS) {
      const [oldest, buf] = this.windows.entries().next().value as [number, Buffer];
      this.windows.delete(oldest);
      if (buf.length === len) w = buf;
    }
    w ??= Buffer.allocUnsafeSlow(len);
    this.lastW = null;
    readIntoFrom(this.parent, w, start, len);
    this.windows.set(n, w);
    this.lastN = n;
    this.lastW = w;
    return w;
  }

  read(offset: number, length: number): Buffer {
    return readFresh(this, offset, length);
  }

  /**
   * The cached window holding `length` bytes at `offset`, which start at `offset % WINDOW` in it (no copy, no
   * allocation: for small records parsed at once, like inodes), or null when the range crosses a window boundary.
   * The window is only valid until the next read of this cache.
   */
  windowAt(offset: number, length: number): Buffer | null {
    checkRange(this, offset, length);
    const n = Math.floor(offset / WINDOW);
    if (length === 0 || Math.floor((offset + length - 1) / WINDOW) !== n) return null;
    return this.window(n);
  }

  readInto(buf: Buffer, offset: number, length: number): void {
    checkRange(this, offset, length);
    const n = Math.floor(offset / WINDOW);
    if (length > WINDOW || Math.floor((offset + length - 1) / WINDOW) !== n || length === 0) {
      readIntoFrom(this.parent, buf, offset, length);
      return;
    }
    const w = this.window(n);
    w.copy(buf, 0, offset - n * WINDOW, offset - n * WINDOW + length);
  }

  dropCache(): void {
    this.windows.clear();
    this.lastW = null;
  }

  /** Drops the windows; the parent source stays open (its owner closes it). */
  close(): void {
    this.dropCache();
  }
}

/**
 * The shared shape of the block-mapped disk containers (VHD, VHDX, VMDK, VDI): a guest disk cut into fixed-size
 * blocks, each mapped to a place in the image file or read as zeros. A subclass translates one block; this class
 * splits reads at block boundaries and bounds-checks them. Readers never open another file.
 */
import { CorruptImageError, checkRange, readFresh, readIntoFrom, type ByteSource } from './source.js';

/** Guest disks larger than this are corrupt metadata (the qcow2 reader uses the same bound). */
export const MAX_VIRTUAL_SIZE = 2 ** 50;
/** Block-map tables read whole into memory are bounded by this (a 2 TiB disk needs a few MiB). */
export const MAX_TABLE_BYTES = 64 * 1024 * 1024;

export abstract class MappedSource implements ByteSource {
  abstract readonly size: number;
  /** Problems that make the read image incomplete or stale (reported; the target is then `partial`). */
  readonly problems: string[] = [];

  constructor(
    protected readonly file: ByteSource,
    protected readonly blockSize: number,
  ) {}

  /** Copy guest bytes [inBlock, inBlock+len) of block `index` into out at outPos (never crossing the block). */
  protected abstract readBlock(index: number, inBlock: number, len: number, out: Buffer, outPos: number): void;

  read(offset: number, length: number): Buffer {
    return readFresh(this, offset, length);
  }

  readInto(out: Buffer, offset: number, length: number): void {
    checkRange(this, offset, length);
    if (length > out.length) throw new RangeError(`readInto: ${length} bytes do not fit a ${out.length}-byte buffer`);
    let pos = 0;
    while (pos < length) {
      const g = offset + pos;
      const index = Math.floor(g / this.blockSize);
      const inBlock = g - index * this.blockSize;
      const n = Math.min(length - pos, this.blockSize - inBlock);
      this.readBlock(index, inBlock, n, out, pos);
      pos += n;
    }
  }

  /** Copy `len` bytes of the image file at `at` into out (a mapped block's data). */
  protected copyFromFile(at: number, len: number, out: Buffer, outPos: number, what: string): void {
    if (at < 0 || at + len > this.file.size) {
      throw new CorruptImageError(`${what} at byte ${at} (${len} bytes) lies beyond the end of the file (${this.file.size} bytes)`);
    }
    readIntoFrom(this.file, out.subarray(outPos), at, len);
  }

  close(): void {
    this.file.close?.();
  }
}

/** A small insertion-ordered cache (least recently inserted is dropped first). */
export class SmallCache<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}
  get(k: K): V | undefined {
    return this.map.get(k);
  }
  set(k: K, v: V): V {
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value as K);
    this.map.set(k, v);
    return v;
  }
}

/** A virtual size from a header, checked: a whole number of bytes, at most MAX_VIRTUAL_SIZE. */
export function checkedVirtualSize(size: bigint | number, what: string): number {
  const n = typeof size === 'bigint' ? size : BigInt(size);
  if (n <= 0n || n > BigInt(MAX_VIRTUAL_SIZE)) throw new CorruptImageError(`${what}: implausible virtual disk size ${n}`);
  return Number(n);
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** A 16-byte GUID as Microsoft writes it (first three fields little-endian), lower-case with dashes. */
export function guidAt(buf: Buffer, off: number): string {
  const hex = (a: number, b: number, rev: boolean) => {
    const bytes = [...buf.subarray(off + a, off + b)];
    return (rev ? bytes.reverse() : bytes).map((x) => x.toString(16).padStart(2, '0')).join('');
  };
  return `${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10, false)}-${hex(10, 16, false)}`;
}

/**
 * Array helpers safe for sizes an image decides: `a.push(...b)` and `Math.max(...b)` pass every element as a call
 * argument and overflow the stack somewhere past ~100k elements.
 */

/** Append every element of `src` to `dst` (in place); returns `dst`. */
export function pushAll<T>(dst: T[], src: Iterable<T>): T[] {
  for (const x of src) dst.push(x);
  return dst;
}

/** 64 KiB of zeros to compare byte ranges with (as memory, not a callback per byte). */
const ZEROS = Buffer.alloc(64 * 1024);

/** Whether `buf[start, end)` holds only zero bytes. */
export function isZero(buf: Uint8Array, start = 0, end = buf.length): boolean {
  for (let at = start; at < end; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, end - at);
    if (Buffer.compare(buf.subarray(at, at + n), ZEROS.subarray(0, n)) !== 0) return false;
  }
  return true;
}

/** The index of the first byte of `buf` that is not zero, or -1. */
export function firstNonZero(buf: Uint8Array): number {
  for (let at = 0; at < buf.length; at += ZEROS.length) {
    const end = Math.min(buf.length, at + ZEROS.length);
    if (isZero(buf, at, end)) continue;
    for (let i = at; i < end; i++) if (buf[i] !== 0) return i;
  }
  return -1;
}

/** The largest of `values` (`fallback` when there are none). */
export function maxOf(values: Iterable<number>, fallback = 0): number {
  let m = -Infinity;
  for (const v of values) if (v > m) m = v;
  return m === -Infinity ? fallback : m;
}

/**
 * A set of non-negative integers (block numbers) as a sparse bitmap: pages of 32,768 bits made on first use, so a
 * walk that marks tens of thousands of clustered blocks keeps a few KiB instead of a hash set entry per block.
 */
export class SparseBitSet {
  private readonly pages = new Map<number, Uint8Array>();

  /** Mark `n`; false when it was already marked. */
  add(n: number): boolean {
    const key = Math.floor(n / 32768);
    let page = this.pages.get(key);
    if (!page) this.pages.set(key, (page = new Uint8Array(4096)));
    const bit = n - key * 32768;
    const mask = 1 << (bit & 7);
    if (page[bit >>> 3]! & mask) return false;
    page[bit >>> 3]! |= mask;
    return true;
  }

  has(n: number): boolean {
    const key = Math.floor(n / 32768);
    const page = this.pages.get(key);
    if (!page) return false;
    const bit = n - key * 32768;
    return (page[bit >>> 3]! & (1 << (bit & 7))) !== 0;
  }
}

/**
 * Order two strings by UTF-16 code units: the same on every machine whatever its locale, and free where
 * `localeCompare` pays for ICU's collator on its first call (~10 ms of every run's start-up).
 */
export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

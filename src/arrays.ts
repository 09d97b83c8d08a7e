/**
 * Array helpers safe for sizes an image decides: `a.push(...b)` and `Math.max(...b)` pass every element as a call
 * argument and overflow the stack somewhere past ~100k elements.
 */

/** Append every element of `src` to `dst` (in place); returns `dst`. */
export function pushAll<T>(dst: T[], src: Iterable<T>): T[] {
  for (const x of src) dst.push(x);
  return dst;
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

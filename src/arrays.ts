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

/** Wording shared by every output (reporters, the gate's stderr lines, rule messages). */

/** `1 file`, `3 files`, `2 entries` (with `many`). */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

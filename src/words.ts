/** Wording shared by every output (reporters, the gate's stderr lines, rule messages). */

/** `1 file`, `3 files`, `2 entries` (with `many`). */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Edit distance (insertions, deletions, substitutions, adjacent transpositions). */
export function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest candidate within a third of the word's length (at least 1, at most 3 edits), or a unique prefix. */
export function suggest(word: string, candidates: readonly string[]): string | null {
  // Another spelling of the same words (`fail-on`, `fail_on`, `FailOn` for `failOn`) is the suggestion outright.
  const bare = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');
  const same = candidates.find((c) => bare(c) === bare(word));
  if (same !== undefined) return same;
  const w = word.toLowerCase();
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const dd = distance(w, c);
    if (dd < bestD) [best, bestD] = [c, dd];
  }
  if (best !== null && bestD <= Math.min(3, Math.max(1, Math.floor(w.length / 3)))) return best;
  const prefixed = candidates.filter((c) => c.startsWith(w));
  return w.length >= 2 && prefixed.length === 1 ? prefixed[0]! : null;
}

/** `an ext2 filesystem`, `a squashfs`: the indefinite article for a word as it is read aloud (`an xfs`). */
export function withArticle(phrase: string): string {
  return `${/^(?:[aeiou]|x[^aeiou])/i.test(phrase) ? 'an' : 'a'} ${phrase}`;
}

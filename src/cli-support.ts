/**
 * What the parser in src/cli.ts needs besides the option table: number options checked where they are parsed (no
 * NaN reaches a command), "did you mean" for a mistyped command or flag, and the examples each command's help shows.
 */

/** A `coerce` for a number option: the value as a number, or an error naming the flag and what was given. */
export function numberOption(flag: string, kind: 'whole' | 'positive'): (v: unknown) => number | undefined {
  return (v: unknown) => {
    if (v === undefined) return undefined;
    const raw = Array.isArray(v) ? v[v.length - 1] : v;
    const text = String(raw).trim();
    const n = text === '' ? NaN : Number(text);
    if (kind === 'whole' && !(Number.isInteger(n) && n >= 1)) throw new Error(`--${flag} takes a whole number >= 1, not '${text}'`);
    if (kind === 'positive' && !(Number.isFinite(n) && n > 0)) throw new Error(`--${flag} takes a positive number, not '${text}'`);
    return n;
  };
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

/** One line per unknown word yargs reported, with a suggestion where one is close. */
export function unknownArgumentsMessage(
  unknown: string[],
  argv: string[],
  commands: readonly string[],
  flagsOf: (command: string | null) => string[],
): string {
  const command = argv.find((a) => !a.startsWith('-')) ?? null;
  const known = command !== null && commands.includes(command) ? command : null;
  // A mistyped command: the words after it are its arguments, not more mistakes.
  if (command !== null && known === null && unknown.includes(command)) unknown = [command];
  return unknown
    .map((word) => {
      const asFlag = argv.some((a) => a === `--${word}` || a.startsWith(`--${word}=`) || a === `-${word}`);
      if (!asFlag && known === null && word === command) {
        const s = suggest(word, commands);
        return `unknown command '${word}'${s ? `: did you mean ${s}?` : ` (commands: ${commands.join(', ')})`}`;
      }
      if (asFlag) {
        const s = suggest(word, flagsOf(known));
        return `unknown option '--${word}'${known ? ` for ${known}` : ''}${s ? `: did you mean --${s}?` : ''}`;
      }
      return `unexpected argument '${word}'`;
    })
    .join('\nhostleak: ');
}

/** Examples shown in each command's --help. */
export const EXAMPLES: Record<string, Array<[string, string]>> = {
  scan: [
    ['$0 scan result/disk.raw', 'audit the image a nix build left in result/'],
    ['$0 scan result --format sarif -o hostleak.sarif', 'SARIF for GitHub code scanning'],
    ['$0 scan /srv/images --recursive --cache ~/.cache/hostleak', 'audit a store of images, reusing unchanged results'],
    ['$0 scan disk.raw --baseline hostleak.baseline.json', 'fail only on findings the baseline does not hold'],
  ],
  convert: [
    ['$0 convert report.json --format github', 'annotations for the GitHub Actions run'],
    ['$0 convert report.json --format markdown >> "$GITHUB_STEP_SUMMARY"', 'the job summary'],
  ],
  merge: [['$0 merge shard-*.jsonl --format html -o store.html', 'join shard reports into one page']],
  ls: [
    ['$0 ls disk.raw /home -l', 'owners and modes, named from the image\'s own accounts'],
    ['$0 ls disk.raw /dev/sda1:/ -R', 'a filesystem that stands alone'],
  ],
  cat: [['$0 cat disk.raw /etc/fstab', 'follows /etc/static links inside the image']],
  inventory: [['$0 inventory disk.raw --format csv > entries.csv', 'every entry, for a spreadsheet']],
  diff: [['$0 diff old/disk.raw new/disk.raw', 'what a rebuild added, removed and changed']],
  rules: [
    ['$0 rules', 'the rules with their default severity'],
    ['$0 rules --format json', 'rule metadata for other tools'],
  ],
  explain: [['$0 explain dangling-channel-symlink', "a rule's documentation"]],
  doctor: [['$0 doctor', 'is libguestfs usable here, with KVM or TCG?']],
};

/**
 * What the parser in src/cli.ts needs besides the option table: number options checked where they are parsed (no
 * NaN reaches a command), "did you mean" for a mistyped command or flag, and the examples each command's help shows.
 */

import type { Argv } from 'yargs';
import { suggest } from './words.js';

export { suggest };

/** A `coerce` for a number option: the value as a number, or an error naming the flag and what was given. */
export function numberOption(flag: string, kind: 'whole' | 'positive' | 'seconds'): (v: unknown) => number | undefined {
  return (v: unknown) => {
    if (v === undefined) return undefined;
    const raw = Array.isArray(v) ? v[v.length - 1] : v;
    const text = String(raw).trim();
    const n = text === '' ? NaN : Number(text);
    if (kind === 'whole' && !(Number.isInteger(n) && n >= 1)) throw new Error(`--${flag} takes a whole number >= 1, not '${text}'`);
    if (kind === 'positive' && !(Number.isFinite(n) && n > 0)) throw new Error(`--${flag} takes a positive number, not '${text}'`);
    if (kind === 'seconds' && !(Number.isFinite(n) && n >= 0)) throw new Error(`--${flag} takes a number of seconds (0 or more), not '${text}'`);
    return n;
  };
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

/** What yargs' "Not enough arguments" means for the command at hand, and what to type instead. */
export function missingArgumentsMessage(message: string, argv: string[]): string | null {
  const command = argv.find((a) => !a.startsWith('-')) ?? '';
  const after = /^Not enough arguments following: ([a-z-]+)$/.exec(message);
  if (after?.[1] === 'cache') return '--cache takes the folder that holds the cache: hostleak scan --cache DIR TARGET... (--no-cache: off)';
  if (after) return `--${after[1]} needs a value`;
  if (!/^Not enough non-option arguments/.test(message)) return null;
  if (command === 'scan') {
    // `scan --cache IMG`: the image was taken as the cache folder.
    const i = argv.findIndex((a) => a === '--cache');
    const taken = i >= 0 ? argv[i + 1] : undefined;
    if (i >= 0 && (taken === undefined || taken.startsWith('-'))) {
      return '--cache takes the folder that holds the cache: hostleak scan --cache DIR TARGET... (--no-cache: off)';
    }
    if (taken !== undefined && !taken.startsWith('-')) {
      return `'${taken}' was taken as the --cache folder, which leaves nothing to audit: hostleak scan --cache DIR TARGET...`;
    }
    return 'name what to audit: hostleak scan TARGET... (a disk or filesystem image, an archive, a container image, a nix result or a root-tree folder; see hostleak scan --help)';
  }
  const usage: Record<string, string> = {
    convert: 'REPORT.json --format F',
    merge: 'REPORT...',
    ls: 'TARGET [PATH]',
    cat: 'TARGET PATH',
    inventory: 'TARGET',
    diff: 'OLD NEW',
    explain: 'RULE (hostleak rules lists them)',
  };
  return usage[command] ? `missing arguments: hostleak ${command} ${usage[command]}` : null;
}

/** A command's examples (src/cli-support.ts) in its --help. */
export function examples(command: string, y: Argv): Argv {
  for (const [cmd, what] of EXAMPLES[command] ?? []) y.example(cmd, what);
  return y;
}

/**
 * The options of `scan` (and of every command that opens images) as tables: src/cli.ts hands them to yargs, and
 * fastScanArgs below parses the plain `scan` command lines without yargs.
 */
import type { Options } from 'yargs';
import { numberOption } from './cli-support.js';
import type { Parsed } from './commands/context.js';
import { FAIL_ON_VALUES } from './exit.js';
import { ACCEL_CHOICES, BACKEND_CHOICES, FORMATS } from './types.js';

/** Options every command that opens images takes . */
export const TARGET_OPTIONS: Record<string, Options> = {
  backend: { choices: BACKEND_CHOICES as string[], describe: 'how to read targets (default: auto)' },
  verbose: { alias: 'v', type: 'boolean', default: false, describe: 'print phases, timings and backend to stderr' },
  'allow-backing-file': {
    type: 'boolean',
    describe: 'let a qcow2/vmdk/vhd image read the host backing file it names (refused by default)',
  },
  nested: {
    type: 'boolean',
    describe: 'audit images found inside an image as roots of their own (default; FILE:/path); --no-nested: a warning each',
  },
  accel: { choices: ACCEL_CHOICES as string[], describe: 'guestfs appliance: kvm, tcg or auto (default)' },
  platform: { type: 'string', requiresArg: true, describe: 'docker://: os/arch[/variant] to pick from an index (default linux/amd64)' },
  'insecure-registry': { type: 'string', array: true, requiresArg: true, describe: 'docker://: plain HTTP to HOST[:PORT] (repeatable)' },
  timeout: {
    type: 'string',
    requiresArg: true,
    coerce: numberOption('timeout', 'positive'),
    describe: 'seconds per image, open to report, every backend (default 300)',
  },
  'max-decompressed': { type: 'string', describe: 'most bytes decompressing one image may write to the temp dir, e.g. 8G (default: 80% of its free space)' },
  config: { alias: 'c', type: 'string', describe: 'config file (default: ./hostleak.config.{json,yaml,yml})' },
};

/** scan's own options, after TARGET_OPTIONS. */
export const SCAN_OPTIONS: Record<string, Options> = {
  'targets-from': { type: 'string', requiresArg: true, describe: 'also audit the targets in FILE, one a line (- : stdin; # comments)' },
  format: { alias: 'f', choices: FORMATS as string[], default: 'text', describe: 'report format' },
  output: { alias: 'o', type: 'string', describe: 'write the report to FILE instead of stdout' },
  'sarif-category': {
    type: 'string',
    describe: 'SARIF automationDetails.id (code-scanning category; default: from the target names, without versions)',
  },
  'fail-on': {
    choices: FAIL_ON_VALUES as string[],
    describe: 'exit 1 when a finding is at or above this severity (default: error, or the config)',
  },
  color: { type: 'boolean', describe: 'colour the text report (--no-color to disable)' },
  'host-user': { type: 'string', describe: "the build host's user name (default: current user)" },
  'host-home': { type: 'string', describe: "the build host's home directory (default: $HOME)" },
  'host-name': { type: 'string', describe: "the build host's hostname (default: this machine's)" },
  recursive: { alias: 'r', type: 'boolean', default: false, describe: 'find images in directories by their magic bytes' },
  jobs: {
    alias: 'j',
    type: 'string',
    requiresArg: true,
    coerce: numberOption('jobs', 'whole'),
    describe: 'targets audited at once (default: fits the machine)',
  },
  'progress-every': {
    type: 'string',
    requiresArg: true,
    coerce: numberOption('progress-every', 'seconds'),
    describe: 'outside a terminal: a progress line on stderr every SECONDS, and one at the end (default with --recursive: 60; 0: only the end)',
  },
  cache: {
    type: 'string',
    requiresArg: true,
    describe: 'reuse results of unchanged images from the folder DIR (--no-cache: off)',
  },
  'cache-key': {
    type: 'string',
    describe: 'file with the key that authenticates cache entries, outside DIR (default: ~/.local/state/hostleak/cache.key; or $HOSTLEAK_CACHE_KEY)',
  },
  shard: { type: 'string', requiresArg: true, describe: 'audit only shard i of n (i/n, 1-based), split by target path' },
  'shard-count': { type: 'string', requiresArg: true, describe: 'split the targets into N shards (with --shard-index)' },
  'shard-index': {
    type: 'string',
    requiresArg: true,
    describe: 'audit shard I of --shard-count, 0-based (default: $JOB_COMPLETION_INDEX, as Kubernetes Indexed Jobs set it)',
  },
  'scan-store': {
    type: 'boolean',
    default: false,
    describe: 'also scan file contents inside /nix/store (world-readable, large; off by default)',
  },
  'trust-packages': {
    type: 'boolean',
    default: false,
    describe:
      'do not read files a package installed with a recorded checksum (dpkg, apk, rpm), outside /etc: faster on ' +
      'distribution images, but a change made to one after install goes unseen',
  },
  history: { type: 'string', requiresArg: true, describe: 'html: draw the trend across the earlier JSON reports in DIR' },
  'rules-dir': { type: 'string', describe: 'load declarative YAML rules from DIR (repeatable)' },
  baseline: { type: 'string', describe: 'report only findings whose fingerprint is not in this baseline' },
  'write-baseline': { type: 'string', describe: "record the current findings' fingerprints in FILE" },
  'show-suppressed': { type: 'boolean', default: false, describe: 'list ignored/baselined findings, marked' },
};

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * `hostleak scan TARGET... [--option value]...` without yargs: loading it, building the parser and its help layout
 * (which yargs lays out on every command it runs) cost ~50 ms of a small scan's ~220 (docs/performance.md). This takes
 * only the plain cases: positional targets, each option of TARGET_OPTIONS and SCAN_OPTIONS at most once as `--name
 * value`, `--name=value`, `-a value` or a bare boolean `--flag`, a value that is one of the option's choices and
 * passes its coerce. Anything else (help, `--no-x`, a repeated or array option, a value that starts with '-', a
 * mistake of any kind) answers undefined and goes to yargs, which parses and explains it as before. What it answers
 * is what yargs would (test/cli-fast.test.ts compares the two on many command lines).
 */
export function fastScanArgs(argv: readonly string[]): Parsed | undefined {
  if (argv[0] !== 'scan') return undefined;
  const table: Record<string, Options> = { ...TARGET_OPTIONS, ...SCAN_OPTIONS };
  const byName = new Map<string, string>();
  for (const [name, o] of Object.entries(table)) {
    byName.set(name, name);
    if (typeof o.alias === 'string') byName.set(o.alias, name);
  }
  const given = new Map<string, unknown>();
  const targets: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) {
      targets.push(a);
      continue;
    }
    const long = /^--([a-z][a-z-]*[a-z])(?:=([^]*))?$/.exec(a);
    const short = /^-([a-zA-Z])$/.exec(a);
    const word = long ? long[1]! : short?.[1];
    const name = word === undefined ? undefined : byName.get(word);
    if (name === undefined || given.has(name) || (short && word === name)) return undefined;
    const o = table[name]!;
    if (o.array) return undefined;
    if (o.type === 'boolean') {
      // `--flag true`/`--flag false`: yargs takes the word as the flag's value.
      if (long?.[2] !== undefined || argv[i + 1] === 'true' || argv[i + 1] === 'false') return undefined;
      given.set(name, true);
      continue;
    }
    let value: unknown = long?.[2] ?? argv[++i];
    if (typeof value !== 'string' || value === '' || value.startsWith('-')) return undefined;
    if (o.choices && !(o.choices as unknown[]).includes(value)) return undefined;
    if (o.coerce) {
      try {
        value = o.coerce(value);
      } catch {
        return undefined;
      }
    }
    given.set(name, value);
  }
  if (targets.length === 0) return undefined;
  const args: Parsed = { _: ['scan'], targets, $0: 'hostleak' };
  for (const [name, o] of Object.entries(table)) {
    const value = given.has(name) ? given.get(name) : o.default;
    if (value === undefined) continue;
    for (const key of [name, camel(name), ...(typeof o.alias === 'string' ? [o.alias] : [])]) args[key] = value;
  }
  return args;
}

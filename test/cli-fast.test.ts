/**
 * The scan fast path (src/cli-options.ts fastScanArgs) answers exactly what yargs answers, or leaves the command line to
 * yargs: every line below goes through both, and the common ones must take the fast path.
 */
import { fastScanArgs } from '../src/cli-options.js';
import { parse } from '../src/cli.js';

/** Lines the fast path takes: every option of `scan` at least once, in each spelling it accepts. */
const TAKEN: string[][] = [
  ['scan', 'a.raw'],
  ['scan', 'a.raw', 'b.qcow2', '--format', 'json', '--backend', 'native'],
  ['scan', 'a.raw', '-f', 'sarif', '-o', 'out.sarif', '--fail-on', 'warning', '-v'],
  ['scan', '--format=junit', 'a.raw', '--timeout', '30', '--jobs', '2', '-r', '--cache', 'dir', '--cache-key', 'k'],
  ['scan', 'a.raw', '--host-user', 'alice', '--host-home', '/home/alice', '--host-name', 'box', '--scan-store', '--trust-packages', '--show-suppressed'],
  ['scan', 'a.raw', '--max-decompressed', '8G', '--allow-backing-file', '--nested', '--accel', 'tcg', '--platform', 'linux/arm64', '--progress-every', '0'],
  ['scan', 'a.raw', '--config', 'c.yaml', '--rules-dir', 'r', '--baseline', 'b.json', '--write-baseline', 'w.json', '--history', 'h'],
  ['scan', 'a.raw', '--sarif-category', 'x=y', '--color', '--output=report.json', '--timeout=0.5'],
  ['scan', '123', '--shard', '1/2', '--shard-count', '3', '--shard-index', '0', '--targets-from', 'list.txt', '-j', '4', '-c', 'x.json'],
  ['scan', 'docker://127.0.0.1:5000/img:tag', 'dir/with space', '--verbose', 'c.raw'],
];

/** Lines it leaves to yargs (help, negations, repeats, arrays, bad values, odd spellings). */
const LEFT: string[][] = [
  ['scan'],
  ['scan', '--help'],
  ['scan', 'a.raw', '-h'],
  ['scan', 'a.raw', '--no-color'],
  ['scan', 'a.raw', '--no-nested'],
  ['scan', 'a.raw', '--format', 'bogus'],
  ['scan', 'a.raw', '--format'],
  ['scan', 'a.raw', '--timeout', 'abc'],
  ['scan', 'a.raw', '--jobs', '0'],
  ['scan', 'a.raw', '--rules-dir', 'a', '--rules-dir', 'b'],
  ['scan', 'a.raw', '--insecure-registry', 'h:5000'],
  ['scan', 'a.raw', '-vr'],
  ['scan', 'a.raw', '--verbose', 'false'],
  ['scan', 'a.raw', '--verbose=true'],
  ['scan', 'a.raw', '--output', '-'],
  ['scan', 'a.raw', '--host-name', ''],
  ['scan', 'a.raw', '--', 'b.raw'],
  ['scan', 'a.raw', '--f', 'json'],
  ['scan', 'a.raw', '--formats', 'json'],
  ['scan', 'a.raw', '--scanStore'],
  ['scan', '-', '--format', 'json'],
  ['ls', 'a.raw'],
  ['--version'],
];

const sorted = (o: object) => JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));

describe('the scan fast path', () => {
  it.each(TAKEN.map((l) => [l.join(' '), l]))('takes `%s` and answers what yargs answers', async (_name, argv) => {
    const fast = fastScanArgs(argv as string[]);
    expect(fast).toBeDefined();
    const yargs = await parse(argv as string[]);
    expect(yargs.error).toBeUndefined();
    expect(sorted(fast!)).toBe(sorted(yargs.args!));
  });

  it.each(LEFT.map((l) => [l.join(' '), l]))('leaves `%s` to yargs', (_name, argv) => {
    expect(fastScanArgs(argv as string[])).toBeUndefined();
  });
});

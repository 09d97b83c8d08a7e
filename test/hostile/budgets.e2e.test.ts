/**
 * One budget per target (src/budget.ts): the deadline, one write cap and one memory budget shared by everything the
 * target opens. Each hostile case ends with exit 3 (or `partial`) and its reason, near its deadline, under the
 * README's 512 MiB, with nothing left in the temp folder. The case generators are in images-sample/hostile.mjs.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireTools } from '../helpers/tools.js';
import { hostleak, SAMPLES } from '../helpers/cli.js';
import { hostileCases, MEMORY_MIB, record, runMeasured, type Measured } from './harness.js';

requireTools('zstd', 'xz', 'gzip', 'xorriso', 'mke2fs', 'tar', '/usr/bin/time');

const cases = hostileCases([
  'pax-globals',
  'deep-links',
  'cpio-waiting-links',
  'iso-overlap',
  'ten-images',
  'nested-zero-bomb',
  'nested-data-bomb',
  'result-many-gz',
  'deep-env',
  'impossible-times',
  'huge-sparse',
]);

function ended(m: Measured, reason: RegExp, status = 3): void {
  expect(m.stdout + m.stderr).toMatch(reason);
  expect(m.status).toBe(status);
  expect(m.stderr).not.toMatch(/Maximum call stack|heap out of memory|internal error|\n\s+at /);
  expect(m.peakMiB).toBeLessThan(MEMORY_MIB);
  expect(m.leftovers).toEqual([]);
}

const scan = (name: string, ...args: string[]) => record(`${name} ${args.join(' ')}`, runMeasured(['scan', cases[name]!.file, ...args]));

describe('one memory budget per target', () => {
  it('6,000 PAX global headers of 1 MB end at the memory budget', () => {
    ended(scan('pax-globals', '--timeout', '60'), /memory budget of \d+ MiB is spent \(PAX global headers/);
  });
  it('640 overlapping iso9660 directory extents (19M entries) end in time and memory, the decompressed copy removed', () => {
    // The walk names each overlap (src/backends/native/walk.ts) and lists none of them twice: partial, in seconds.
    ended(scan('iso-overlap', '--timeout', '120'), /: partial: could not read everything: \/dev\/sda:\/pool\/\w+: directory extent at sector \d+ overlaps another directory's; not read;.* \(and 636 more\)\n/);
  });
  it('every reader charges what it lists to the memory budget: a tiny budget ends each with the reason', () => {
    for (const sample of ['leaky.raw', 'leaky.iso', 'leaky.squashfs-zstd', 'leaky.erofs', 'leaky-rootfs.tar.xz', 'leaky-docker.tar']) {
      const m = record(`${sample} HOSTLEAK_MEMORY=4000`, runMeasured(['scan', path.join(SAMPLES, sample)], { env: { HOSTLEAK_MEMORY: '4000' } }));
      ended(m, /memory budget of 4 KiB is spent \((entries listed|archive entries)/);
    }
  });
  it('cpio files whose other link with the data never comes: what waits for it is charged to the memory budget', () => {
    const m = record('cpio-waiting-links HOSTLEAK_MEMORY=1000000', runMeasured(['scan', cases['cpio-waiting-links']!.file], { env: { HOSTLEAK_MEMORY: '1000000' } }));
    ended(m, /memory budget of \d+ KiB is spent \(cpio hard links waiting for their data/);
    // Within the default budget the same archive is audited: the links are empty files.
    const whole = scan('cpio-waiting-links', '--format', 'json');
    expect(whole.status).toBe(0);
    expect(JSON.parse(whole.stdout).targets[0].status).toBe('ok');
  });
  it('directories 40k deep through chained links: the members past PATH_MAX are named, the rest audited', () => {
    const m = scan('deep-links', '--timeout', '10', '--format', 'json');
    ended(m, /not placed \(a path deeper than 4096 bytes\)/);
    expect(JSON.parse(m.stdout).targets[0].status).toBe('partial');
  });
  it('an image config nesting 200k arrays is refused before it is parsed', () => {
    ended(scan('deep-env'), /nests deeper than 64 levels/);
  });
});

describe('one write cap and one deadline per target', () => {
  it('ten 96 MB members share one --max-decompressed', () => {
    ended(scan('ten-images', '--max-decompressed', '100M'), /disk1\.raw: \d+ bytes to copy out pass the \d+ bytes left of the limit/);
  });
  it('a nested zero bomb stops at the target deadline', () => {
    const m = scan('nested-zero-bomb', '--nested', '--timeout', '5');
    ended(m, /timed out after 5 s/);
    expect(m.seconds).toBeLessThan(5 + 20); // a guard against "runs to the end", not a benchmark
  });
  it('a nested data bomb stops at the write cap', () => {
    const m = scan('nested-data-bomb', '--nested', '--max-decompressed', '10M', '--format', 'json');
    ended(m, /bomb\.img\.zst: nested zstd-compressed not audited: decompressed data passes the limit of 10 MiB/);
    expect(JSON.parse(m.stdout).targets[0].status).toBe('partial');
  });
  it('a result folder of 3,000 small .gz files is classified under the deadline', () => {
    // Classified in time (each file sniffed once, in-process, about 2 s here), never at the deadline (it took 22 s).
    const m = scan('result-many-gz', '--timeout', '5');
    ended(m, /: failed: a folder that is neither a root tree \(no etc\/, usr\/, nix\/ \.\.\. at its top\) nor holds disk images/);
    expect(m.seconds).toBeLessThan(5 + 20); // a guard against "runs to the end", not a benchmark
  });
});

describe('impossible sizes and times', () => {
  it('PAX mtime=1e300, -1e300 and a base-256 2^52 are clamped, and every command still prints them', () => {
    const f = cases['impossible-times']!.file;
    const ls = runMeasured(['ls', '-l', f, '/etc']);
    expect(ls.status).toBe(0);
    expect(ls.stdout).toMatch(/\+275760-09-13T00:00:00Z hostname/);
    expect(ls.stdout).toMatch(/-271821-04-20T00:00:00Z issue/);
    const inv = runMeasured(['inventory', f]);
    expect(inv.status).toBe(0);
    expect(inv.stdout).toMatch(/"path":"\/etc\/motd".*"mtime":"\+275760-09-13T00:00:00Z"/);
    const s = runMeasured(['scan', f, '--format', 'json', '--fail-on', 'never']);
    expect(s.status).toBe(0);
  });
  it('a sparse member of 2^50 bytes names the size limit', () => {
    ended(scan('huge-sparse'), /disk\.raw: a disk image of 1125899906842624 bytes is larger than the 16 TiB a temporary copy may be/);
  });
});

describe('temp folders', () => {
  it('leftovers of a killed run older than a day are swept; fresh ones and a live owner\'s are kept', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'hl-sweep-'));
    try {
      const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
      const old = Date.now() / 1000 - 2 * 86400;
      const make = (name: string, mtime?: number) => {
        mkdirSync(path.join(tmp, name, 'x'), { recursive: true });
        if (mtime) utimesSync(path.join(tmp, name), mtime, mtime);
      };
      make(`hostleak-${dead}-aaaaaa`, old);
      make(`hostleak-${dead}-bbbbbb`);
      make(`hostleak-${process.pid}-cccccc`, old);
      make('hostleak-dddddd', old);
      const r = hostleak(['scan', path.join(SAMPLES, 'leaky.raw.zst'), '--fail-on', 'never'], { env: { TMPDIR: tmp, HOSTLEAK_TMPDIR: tmp } });
      expect(r.status).toBe(0);
      expect(readdirSync(tmp).sort()).toEqual([`hostleak-${dead}-bbbbbb`, `hostleak-${process.pid}-cccccc`, 'hostleak-dddddd'].sort());
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

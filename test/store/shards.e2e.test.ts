/**
 * A store audited the way a scheduled job runs it (issue 28): shards from `--shard-count` with the index from the
 * environment (Kubernetes' JOB_COMPLETION_INDEX, 0-based) or `--shard-index`, reports that record their shard and
 * start time, a `merge` that refuses to pass off shards 1 and 2 of 3 as the whole store, progress lines on a stderr
 * that is a file (cron), and cached results marked as such. Every image here is read natively.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Report } from '../../src/types.js';
import { BIN, hostleak, REPO, SAMPLES } from '../helpers/cli.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-shards-'));
const store = path.join(tmp, 'store');
const IMAGES = ['leaky.raw', 'leaky.qcow2', 'clean.raw', 'clean.qcow2', 'leaky.vhd', 'leaky.vdi', 'leaky-rebuilt.raw'];
for (const [i, name] of IMAGES.entries()) {
  mkdirSync(path.join(store, `batch-${i % 3}`), { recursive: true });
  copyFileSync(path.join(SAMPLES, name), path.join(store, `batch-${i % 3}`, name));
}
const BASE = ['--recursive', '--fail-on', 'never', '--host-user', 'bob', '--host-home', '/home/bob'];
const COMMON = [...BASE, '--format', 'json'];

/** One shard, run like a pod of an Indexed Job: its index from the environment. */
function pod(index: number, count: number, out: string, extra: string[] = []) {
  const r = hostleak(['scan', 'store', ...COMMON, '--shard-count', String(count), '--output', out, ...extra], {
    cwd: tmp,
    env: { JOB_COMPLETION_INDEX: String(index) },
  });
  expect([r.status, r.stderr.split('\n').filter((l) => !l.startsWith('hostleak: done:') && l !== '')]).toEqual([0, []]);
  return JSON.parse(readFileSync(path.join(tmp, out), 'utf8')) as Report;
}

describe('shards of a store', () => {
  const shards = [0, 1, 2].map((k) => pod(k, 3, `shard-${k}.json`));

  it('each report records its shard (1-based), the store and the configuration, and when the run started', () => {
    for (const [k, r] of shards.entries()) {
      expect(r.run?.shard).toEqual({ index: k + 1, count: 3, store: ['store'], configHash: shards[0]!.run!.shard!.configHash });
      expect(Date.parse(r.run!.startedAt)).toBeGreaterThan(Date.parse('2020-01-01'));
      for (const t of r.targets) expect(Date.parse(t.auditedAt!)).toBeGreaterThanOrEqual(Date.parse(r.run!.startedAt));
    }
    // Together the shards hold every image exactly once.
    const all = shards.flatMap((r) => r.targets.map((t) => t.target)).sort();
    expect(all).toEqual(IMAGES.map((n, i) => `store/batch-${i % 3}/${n}`).sort());
  });

  it('--shard-index I is the same shard as JOB_COMPLETION_INDEX=I and as --shard I+1/n', () => {
    const byIndex = hostleak(['scan', 'store', ...COMMON, '--shard-count', '3', '--shard-index', '1'], { cwd: tmp });
    const byFraction = hostleak(['scan', 'store', ...COMMON, '--shard', '2/3'], { cwd: tmp });
    const targets = (s: string) => (JSON.parse(s) as Report).targets.map((t) => t.target);
    expect(targets(byIndex.stdout)).toEqual(shards[1]!.targets.map((t) => t.target));
    expect(targets(byFraction.stdout)).toEqual(shards[1]!.targets.map((t) => t.target));
  });

  it.each([
    [['--shard-count', '3'], {}, 'JOB_COMPLETION_INDEX'],
    [['--shard-count', '3', '--shard-index', '3'], {}, 'is not below --shard-count 3'],
    [['--shard-count', '3'], { JOB_COMPLETION_INDEX: 'x' }, "JOB_COMPLETION_INDEX takes a whole number >= 0, not 'x'"],
    [['--shard-index', '0'], {}, '--shard-index needs --shard-count N'],
    [['--shard', '1/3', '--shard-count', '3'], {}, 'give one of them'],
  ])('%j %j: exit 2 naming the fix', (flags, env, message) => {
    const r = hostleak(['scan', 'store', ...COMMON, ...flags], { cwd: tmp, env: { JOB_COMPLETION_INDEX: undefined, ...env } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
  });

  it('merge of shards 1 and 2 of 3: exit 3 naming the missing shard, the report says so', () => {
    const r = hostleak(['merge', 'shard-0.json', 'shard-1.json', '--format', 'json', '--fail-on', 'never'], { cwd: tmp });
    expect(r.status).toBe(3);
    expect(r.stderr).toBe('hostleak: merge: shard 3/3 is missing\n');
    const merged = JSON.parse(r.stdout) as Report;
    expect(merged.run?.merged).toEqual({ count: 3, shards: [1, 2], problem: 'shard 3/3 is missing' });
    const text = hostleak(['merge', 'shard-0.json', 'shard-1.json', '--format', 'text', '--fail-on', 'never'], { cwd: tmp });
    expect(text.stdout).toContain('incomplete merge: shard 3/3 is missing');
  });

  it('a shard given twice, or shards of two splits: exit 3 naming them', () => {
    const twice = hostleak(['merge', 'shard-0.json', 'shard-1.json', 'shard-1.json', 'shard-2.json', '--fail-on', 'never'], { cwd: tmp });
    expect(twice.status).toBe(3);
    expect(twice.stderr).toBe('hostleak: merge: shard 2/3 is given 2 times (shard-1.json, shard-1.json)\n');
    pod(0, 2, 'half-0.json');
    const mixed = hostleak(['merge', 'shard-0.json', 'shard-1.json', 'half-0.json', '--fail-on', 'never'], { cwd: tmp });
    expect(mixed.status).toBe(3);
    expect(mixed.stderr).toContain('are shards of different audits: split into 3 and into 2 shards');
  });

  it('shards audited with other rules are not one audit', () => {
    writeFileSync(path.join(tmp, 'other.yaml'), 'rules:\n  world-writable: off\n');
    pod(2, 3, 'other-2.json', ['--config', 'other.yaml']);
    const r = hostleak(['merge', 'shard-0.json', 'shard-1.json', 'other-2.json', '--fail-on', 'never'], { cwd: tmp });
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('audited with different rules or configuration');
  });

  it('all three shards, as JSON or jsonl: exit as the findings say, nothing on stderr', () => {
    const r = hostleak(['merge', 'shard-2.json', 'shard-0.json', 'shard-1.json', '--fail-on', 'never'], { cwd: tmp });
    expect([r.status, r.stderr]).toEqual([0, '']);
    for (const k of [0, 1, 2]) {
      const l = hostleak(['scan', 'store', ...BASE, '--format', 'jsonl', '--shard-count', '3', '--shard-index', String(k)], { cwd: tmp });
      writeFileSync(path.join(tmp, `shard-${k}.jsonl`), l.stdout);
    }
    const jsonl = hostleak(['merge', 'shard-0.jsonl', 'shard-2.jsonl', '--format', 'json', '--fail-on', 'never'], { cwd: tmp });
    expect(jsonl.status).toBe(3);
    expect(jsonl.stderr).toBe('hostleak: merge: shard 2/3 is missing\n');
    const all = hostleak(['merge', 'shard-0.jsonl', 'shard-1.jsonl', 'shard-2.jsonl', '--fail-on', 'never'], { cwd: tmp });
    expect([all.status, all.stderr]).toEqual([0, '']);
  });
});

describe('a cron-like run: stderr to a file', () => {
  it('progress lines every N seconds and one at the end, with done/total, failed and the time elapsed', () => {
    writeFileSync(path.join(store, 'batch-0', 'broken.img'), Buffer.alloc(70_000, 0x41));
    const log = path.join(tmp, 'cron.log');
    const r = spawnSync('sh', ['-c', `'${process.execPath}' '${BIN}' scan store --recursive --jobs 1 --progress-every 0.01 --format json --output r.json 2> '${log}'`], {
      cwd: tmp,
      env: { ...process.env, CI: '' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(3);
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    const progress = lines.filter((l) => l.startsWith('hostleak: progress: '));
    expect(progress.length).toBeGreaterThan(0);
    for (const l of progress) expect(l).toMatch(/^hostleak: progress: \d\/8 images, [01] failed, \d+s elapsed$/);
    expect(lines).toContainEqual(expect.stringMatching(/^hostleak: done: 8\/8 images, 1 failed, \d+s elapsed$/));
    expect(lines).toContainEqual(expect.stringContaining('broken.img: failed: '));
    // No terminal codes in the log.
    expect(readFileSync(log, 'utf8')).not.toMatch(/\u001b|\r/);
  });

  it('a single image outside --recursive stays quiet', () => {
    const r = hostleak(['scan', path.join(SAMPLES, 'leaky.raw'), '--format', 'json', '--fail-on', 'never'], { cwd: REPO });
    expect([r.status, r.stderr]).toEqual([0, '']);
  });
});

describe('cached results', () => {
  it('say cached: true and keep the earlier audit time; the text report says so', () => {
    const cache = path.join(tmp, 'cache');
    const env = { HOSTLEAK_CACHE_KEY: 'k'.repeat(40) };
    const args = ['scan', path.join(SAMPLES, 'leaky.raw'), '--cache', cache, '--format', 'json', '--fail-on', 'never'];
    const first = JSON.parse(hostleak(args, { env }).stdout) as Report;
    const second = JSON.parse(hostleak(args, { env }).stdout) as Report;
    expect(first.targets[0]!.cached).toBeUndefined();
    expect(second.targets[0]).toMatchObject({ cached: true, auditedAt: first.targets[0]!.auditedAt, durationMs: first.targets[0]!.durationMs });
    expect(Date.parse(second.run!.startedAt)).toBeGreaterThan(Date.parse(first.targets[0]!.auditedAt!));
    const text = hostleak([...args.slice(0, -4), '--fail-on', 'never'], { env });
    expect(text.stdout.split('\n')[0]).toMatch(/\(native, \d+ ms, cached from \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\)$/);
  });
});

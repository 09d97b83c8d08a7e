import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseReportText } from '../../src/commands/report-file.js';
import { configHash, loadCacheKey, ResultCache } from '../../src/store/cache.js';
import { extentsDigest, HINT_BYTES, ReadLog } from '../../src/image/readlog.js';
import { defaultJobs, mapPool, Semaphore } from '../../src/store/pool.js';
import { auditTargets } from '../../src/store/run.js';
import { terminalProgress } from '../../src/store/progress.js';
import { inShard, parseShard, shardOf } from '../../src/store/shard.js';
import type { TargetResult } from '../../src/types.js';

describe('shards', () => {
  it('parses i/n and rejects nonsense', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    for (const bad of ['0/3', '4/3', '1/0', 'a/b', '1']) expect(() => parseShard(bad)).toThrow();
  });

  it('cover every target exactly once, whatever the order', () => {
    const targets = Array.from({ length: 200 }, (_, i) => `store/img-${i}.raw`);
    for (const n of [1, 2, 3, 7]) {
      const counts = targets.map((t) => Array.from({ length: n }, (_, i) => inShard(t, { index: i + 1, count: n })).filter(Boolean).length);
      expect(counts.every((c) => c === 1)).toBe(true);
    }
    expect(shardOf('a', 5)).toBe(shardOf('a', 5));
    const sizes = [1, 2].map((i) => targets.filter((t) => inShard(t, { index: i, count: 2 })).length);
    expect(Math.min(...sizes)).toBeGreaterThan(60); // roughly balanced
  });
});

describe('pool', () => {
  it('keeps order and never runs more than jobs at once', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapPool([5, 1, 4, 2, 3], 2, async (x) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, x));
      running--;
      return x * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(peak).toBe(2);
  });

  it('a semaphore caps heavy work below the pool size', async () => {
    const sem = new Semaphore(1);
    let heavy = 0;
    let peak = 0;
    await mapPool([1, 2, 3, 4], 4, async () => {
      const release = await sem.acquire();
      heavy++;
      peak = Math.max(peak, heavy);
      await new Promise((r) => setTimeout(r, 2));
      heavy--;
      release();
    });
    expect(peak).toBe(1);
  });
});

describe('default --jobs', () => {
  const GiB = 1024 ** 3;
  it('runs several audits per core but only as many appliances as memory allows (1.5 GiB each, half the RAM)', () => {
    expect(defaultJobs(2, 2 * GiB)).toEqual({ jobs: 4, appliances: 1 });
    expect(defaultJobs(8, 8 * GiB)).toEqual({ jobs: 16, appliances: 2 });
    expect(defaultJobs(32, 16 * GiB)).toEqual({ jobs: 16, appliances: 5 });
    expect(defaultJobs(4, 256 * GiB)).toEqual({ jobs: 8, appliances: 4 }); // never more appliances than cores
    expect(defaultJobs(1, 512 * 1024 ** 2)).toEqual({ jobs: 2, appliances: 1 }); // always at least one
    const here = defaultJobs();
    expect(here.appliances).toBeGreaterThanOrEqual(1);
    expect(here.appliances).toBeLessThanOrEqual(here.jobs);
  });
});

describe('scan through a cache', () => {
  it('a cache lookup that throws (file gone or unreadable mid-run) falls back to an uncached audit', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hostleak-tree-'));
    try {
      writeFileSync(path.join(dir, 'etc-hostname'), 'x');
      const logs: string[] = [];
      const broken = { lookup: async () => Promise.reject(new Error('EACCES: permission denied')) } as unknown as ResultCache;
      const report = await auditTargets([dir], {
        backend: 'dir',
        rules: [],
        host: { user: 'u', home: '/home/u', name: 'h' },
        cache: broken,
        verbose: (m) => logs.push(m),
      });
      expect(report.targets.map((t) => [t.target, t.status])).toEqual([[dir, 'ok']]);
      expect(logs).toContain(`${dir}: cache lookup failed: EACCES: permission denied`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('progress', () => {
  it('draws done/total, the current image and an ETA, and clears the line at the end', () => {
    let out = '';
    let t = 0;
    const p = terminalProgress(4, (s) => (out += s), 80, () => t);
    p.start('a.raw');
    t = 1000;
    p.done('a.raw');
    p.start('b.raw');
    expect(out).toContain('1/4 ETA 3s b.raw');
    p.finish();
    expect(out.endsWith('\r\x1b[2K')).toBe(true);
  });
});

describe('result cache', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'hostleak-cache-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const result = (target: string): TargetResult => ({
    target,
    status: 'ok',
    error: null,
    backend: 'native',
    durationMs: 5,
    filesystems: [],
    findings: [],
  });

  const KEY = Buffer.alloc(32, 7);

  it('misses, stores, then hits by stat; a copy hits by digest; a change misses', async () => {
    const img = path.join(dir, 'a.img');
    writeFileSync(img, 'image bytes');
    const cache = new ResultCache(path.join(dir, 'c'), configHash({ rules: ['x'] }), KEY);
    const first = await cache.lookup(img);
    expect(first.hit).toBeNull();
    await cache.store(img, first, result(img));
    expect((await cache.lookup(img)).via).toBe('stat');
    const copy = path.join(dir, 'b.img');
    copyFileSync(img, copy);
    const viaDigest = await cache.lookup(copy);
    expect(viaDigest.via).toBe('digest');
    expect(viaDigest.hit?.target).toBe(copy);
    writeFileSync(img, 'image bytes, changed');
    utimesSync(img, 1, 1);
    expect((await cache.lookup(img)).hit).toBeNull();
  });

  it('a file that changed while it was audited is not cached: by its stat, or by a range read twice with other bytes', async () => {
    const img = path.join(dir, 'a.img');
    writeFileSync(img, 'image bytes');
    const cache = new ResultCache(path.join(dir, 'c'), 'h', KEY);
    const l = await cache.lookup(img);
    writeFileSync(img, 'image bytes, rewritten mid-audit');
    expect(await cache.store(img, l, result(img))).toMatch(/changed while it was audited/);
    expect((await cache.lookup(img)).hit).toBeNull();

    const again = await cache.lookup(img);
    again.log!.record(0, Buffer.from('image'), 5);
    again.log!.record(0, Buffer.from('IMAGE'), 5); // the same range, other bytes: stat within one timestamp tick
    expect(await cache.store(img, again, result(img))).toMatch(/changed while it was audited/);
    expect((await cache.lookup(img)).hit).toBeNull();
    const honest = await cache.lookup(img);
    expect(await cache.store(img, honest, result(img))).toBeNull();
    expect((await cache.lookup(img)).via).toBe('stat');
  });

  it('an extent identity is checked by re-reading only its ranges, and stops at the first range that differs', () => {
    const img = path.join(dir, 'x.img');
    const bytes = Buffer.alloc(64 * 1024, 1);
    bytes.write('abc', 40000);
    writeFileSync(img, bytes);
    const st = statSync(img);
    const log = new ReadLog(img, st.dev, st.ino, st.size);
    log.record(40000, bytes.subarray(40000), 3);
    log.record(0, bytes, 4096);
    const id = log.identity();
    expect(id.extents).toEqual([0, 4096, 40000, 3]);
    expect(id.hints).toHaveLength(2 * 2 * HINT_BYTES);
    expect(extentsDigest(img, st.size, id.extents, id.hints)).toBe(id.digest);
    expect(extentsDigest(img, st.size + 1, id.extents, id.hints)).toBeNull(); // another size
    bytes[50000] = 9; // never read: the same identity
    writeFileSync(img, bytes);
    expect(extentsDigest(img, st.size, id.extents, id.hints)).toBe(id.digest);
    bytes[40001] = 0x7a; // read: another identity, and the hint stops the check there
    writeFileSync(img, bytes);
    expect(extentsDigest(img, st.size, id.extents, '')).not.toBe(id.digest);
    expect(extentsDigest(img, st.size, id.extents, id.hints)).toBeNull();
  });

  it('another rule set or config never shares results', async () => {
    const img = path.join(dir, 'a.img');
    writeFileSync(img, 'x');
    const a = new ResultCache(path.join(dir, 'c'), configHash({ rules: ['x'], host: { user: 'a' } }), KEY);
    const b = new ResultCache(path.join(dir, 'c'), configHash({ host: { user: 'b' }, rules: ['x'] }), KEY);
    await a.store(img, await a.lookup(img), result(img));
    expect((await b.lookup(img)).hit).toBeNull();
    expect(configHash({ a: 1, b: 2 })).toBe(configHash({ b: 2, a: 1 }));
  });

  it('ignores a corrupt entry and rewrites it; never caches a failed audit', async () => {
    const img = path.join(dir, 'a.img');
    writeFileSync(img, 'x');
    const cache = new ResultCache(path.join(dir, 'c'), 'h', KEY);
    await cache.store(img, await cache.lookup(img), result(img));
    for (const sub of ['results', 'paths']) {
      for (const f of readdirSync(path.join(dir, 'c', sub))) writeFileSync(path.join(dir, 'c', sub, f), '{ truncated');
    }
    const l = await cache.lookup(img);
    expect(l.hit).toBeNull();
    await cache.store(img, l, result(img));
    expect((await cache.lookup(img)).hit).not.toBeNull();
    const other = path.join(dir, 'f.img');
    writeFileSync(other, 'y');
    await cache.store(other, await cache.lookup(other), { ...result(other), status: 'failed', error: 'boom' });
    expect((await cache.lookup(other)).hit).toBeNull();
  });
});

describe('cache authentication', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'hl-cache-auth-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const clean = (target: string): TargetResult => ({
    target, status: 'ok', error: null, backend: 'native', durationMs: 5, filesystems: [],
    findings: [{ ruleId: 'orphaned-home', severity: 'error', path: '/home/bob', filesystem: null, message: 'm', evidence: null, remediation: 'r' }],
  } as TargetResult);

  it('an entry edited by hand (a finding removed, the target renamed) is ignored', async () => {
    const img = path.join(dir, 'a.img');
    writeFileSync(img, 'x');
    const cache = new ResultCache(path.join(dir, 'c'), 'h', Buffer.alloc(32, 1));
    await cache.store(img, await cache.lookup(img), clean(img));
    const [f] = readdirSync(path.join(dir, 'c', 'results'));
    const file = path.join(dir, 'c', 'results', f!);
    const sealed = JSON.parse(readFileSync(file, 'utf8')) as { payload: string };
    const payload = JSON.parse(sealed.payload) as { result: TargetResult };
    payload.result.findings = [];
    writeFileSync(file, JSON.stringify({ ...sealed, payload: JSON.stringify({ result: { ...payload.result, target: 'other' } }) }));
    const l = await cache.lookup(img);
    expect(l.hit).toBeNull();
    expect(cache.forged).toBeGreaterThan(0);
  });
  it('entries sealed under another key are ignored; the key file is made once, outside the cache', () => {
    const env = { XDG_STATE_HOME: path.join(dir, 'state') } as NodeJS.ProcessEnv;
    const k1 = loadCacheKey(path.join(dir, 'c'), null, env);
    expect(loadCacheKey(path.join(dir, 'c'), null, env).equals(k1)).toBe(true);
    expect(statSync(path.join(dir, 'state', 'hostleak', 'cache.key')).mode & 0o777).toBe(0o600);
    expect(() => loadCacheKey(path.join(dir, 'c'), path.join(dir, 'c', 'key'), env)).toThrow(/inside the cache directory/);
    expect(loadCacheKey(path.join(dir, 'c'), null, { ...env, HOSTLEAK_CACHE_KEY: 'secret from CI' }).equals(k1)).toBe(false);
  });
});

describe('merge input', () => {
  it('reads JSON reports and jsonl lines, and names the bad line', () => {
    const t = { target: 'a', status: 'ok', error: null, backend: 'dir', durationMs: 1, filesystems: [], findings: [] };
    expect(parseReportText(JSON.stringify({ version: 1, tool: { name: 'hostleak', version: '0.1.0' }, targets: [t] }), 'r.json')).toEqual([t]);
    expect(parseReportText(`${JSON.stringify(t)}\n${JSON.stringify({ ...t, target: 'b' })}\n`, 'r.jsonl')).toHaveLength(2);
    expect(() => parseReportText('{"x":1}\nnot json', 'bad.jsonl')).toThrow('bad.jsonl:1');
  });
});

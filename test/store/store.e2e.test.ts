/**
 * End-to-end: an artifact store audited through the built CLI (issue 7). The store holds raw, qcow2 and compressed
 * sample disk images in nested folders, two junk images (detected as images by their magic bytes, but broken) and
 * two non-images. Every image here is read natively, so no appliance is booted.
 *
 * Timing is not asserted (house rule): that the second run does not read the images again is asserted on the
 * verbose "cached result" lines; the speedup is measured by bench/store.mjs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Report, TargetResult } from '../../src/types.js';
import { BIN, hostleak, json, SAMPLES } from '../helpers/cli.js';
import { describeWithTools } from '../helpers/tools.js';

const IMAGES = {
  leakyRaw: 'store/2024/01/leaky.raw',
  cleanQcow2: 'store/2024/02/clean.qcow2',
  leakyZst: 'store/2025/leaky.raw.zst',
  truncated: 'store/2025/broken/truncated.raw',
  garbageQcow2: 'store/2025/broken/garbage.qcow2',
  /** A copy in a hidden folder, a few bytes longer (so its digest differs). */
  hidden: 'store/.staging/clean-next.qcow2',
  /** A symlink to leaky.raw, like a `result` link. */
  link: 'store/latest.raw',
};
// A file named like an image that is not one is a failed target (test/hostile/store.e2e.test.ts), not a non-image.
const NON_IMAGES = ['store/notes.txt', 'store/2024/README.md'];
/** Never opened: a FIFO, a dangling link, a link to a directory (a loop). */
const SPECIAL = {
  'store/2025/pipe': 'not a regular file',
  'store/gone.raw': 'symlink to nothing',
  'store/2024/loop': 'symlink to a directory',
};
const ALL = Object.values(IMAGES).sort();
const GOOD = [IMAGES.leakyRaw, IMAGES.cleanQcow2, IMAGES.leakyZst, IMAGES.hidden, IMAGES.link];
const JUNK = [IMAGES.truncated, IMAGES.garbageQcow2];

/**
 * A target result without what legitimately differs between runs: durations and audit times, whether it came from
 * the cache, and the run a jsonl line carries.
 */
const stable = (t: TargetResult) => {
  const { auditedAt: _at, cached: _cached, run: _run, ...rest } = t;
  return { ...rest, durationMs: 0 };
};
const byTarget = (r: Report) => Object.fromEntries(r.targets.map((t) => [t.target, stable(t)]));
const cachedLines = (stderr: string) =>
  stderr
    .split('\n')
    .map((l) => /^hostleak: (.+): cached result \(matched by (stat|digest|extents)\)$/.exec(l)?.[1])
    .filter((t): t is string => !!t)
    .sort();

describeWithTools(['zstd'], 'hostleak scan on an artifact store', () => {
  let tmp: string;
  const run = (args: string[]) => hostleak(args, { cwd: tmp });
  const entries = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : []);

  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-store-'));
    const at = (rel: string) => {
      const p = path.join(tmp, rel);
      mkdirSync(path.dirname(p), { recursive: true });
      return p;
    };
    copyFileSync(path.join(SAMPLES, 'leaky.raw'), at(IMAGES.leakyRaw));
    copyFileSync(path.join(SAMPLES, 'clean.qcow2'), at(IMAGES.cleanQcow2));
    copyFileSync(path.join(SAMPLES, 'leaky.raw.zst'), at(IMAGES.leakyZst));
    // A GPT disk cut after 2 MiB: its partitions point past the end of the file.
    writeFileSync(at(IMAGES.truncated), readFileSync(path.join(SAMPLES, 'leaky.raw')).subarray(0, 2 * 1024 * 1024));
    // A qcow2 magic and version followed by garbage.
    const garbage = Buffer.alloc(64 * 1024);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 131 + 7) & 0xff;
    Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]).copy(garbage);
    writeFileSync(at(IMAGES.garbageQcow2), garbage);
    writeFileSync(at(NON_IMAGES[0]!), 'release notes, not an image\n');
    writeFileSync(at(NON_IMAGES[1]!), 'a text file that only has an image-like name\n');
    writeFileSync(at(IMAGES.hidden), Buffer.concat([readFileSync(path.join(SAMPLES, 'clean.qcow2')), Buffer.alloc(512)]));
    symlinkSync('2024/01/leaky.raw', at(IMAGES.link));
    expect(spawnSync('mkfifo', [at('store/2025/pipe')]).status).toBe(0);
    symlinkSync('/nonexistent/disk.raw', at('store/gone.raw'));
    symlinkSync('..', at('store/2024/loop'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  /** The plain audit every other run is compared with. */
  let first: ReturnType<typeof run>;
  let full: Report;
  beforeAll(() => {
    first = run(['scan', 'store', '--recursive', '--format', 'json', '--verbose']);
    full = json<Report>(first);
  });

  it('one command audits every image in nested folders; the junk images give exit 3, the others are reported', () => {
    const r = first;
    expect(r.status).toBe(3);
    expect(full.targets.map((t) => t.target).sort()).toEqual(ALL);
    const t = byTarget(full);
    for (const good of GOOD) {
      expect(t[good]).toMatchObject({ status: 'ok', error: null, backend: 'native' });
      // ESP + root (the leaky disk's nested scratch image is audited too, named by its file).
      expect(t[good]!.filesystems.filter((f) => !f.device.includes(':')).length).toBe(2);
    }
    const leakSeeds = (x: TargetResult) => x.findings.filter((f) => f.ruleId === 'orphaned-home').map((f) => f.path);
    expect(leakSeeds(t[IMAGES.leakyRaw]!)).toEqual(['/home/bob']);
    // The compressed copy of the same disk has the same findings.
    expect(t[IMAGES.leakyZst]!.findings).toEqual(t[IMAGES.leakyRaw]!.findings);
    expect(t[IMAGES.link]!.findings).toEqual(t[IMAGES.leakyRaw]!.findings);
    expect(t[IMAGES.cleanQcow2]!.findings.filter((f) => f.severity !== 'info')).toEqual([]);
    expect(t[IMAGES.hidden]!.findings).toEqual(t[IMAGES.cleanQcow2]!.findings);
    for (const junk of JUNK) {
      expect(t[junk]!.status).toBe('failed');
      expect(t[junk]!.error).toMatch(/^[^\n]+$/);
      expect(r.stderr).toContain(`hostleak: ${junk}: ${t[junk]!.status}: ${t[junk]!.error}\n`);
    }
    expect(t[IMAGES.truncated]!.error).toMatch(/truncated/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    // --verbose names the skipped non-images; the report never does.
    for (const n of NON_IMAGES) {
      expect(r.stderr).toContain(`skipping ${n}: not a disk or filesystem image`);
      expect(r.stdout).not.toContain(path.basename(n));
    }
    for (const [p, why] of Object.entries(SPECIAL)) {
      expect(r.stderr).toContain(`skipping ${p}: ${why}\n`);
      expect(r.stdout).not.toContain(p);
    }
  });

  it('jsonl streams one line per target; without --verbose the non-images are skipped silently', () => {
    const r = run(['scan', 'store', '--recursive', '--format', 'jsonl']);
    expect(r.status).toBe(3);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(ALL.length);
    const streamed = lines.map((l) => JSON.parse(l) as TargetResult);
    expect(streamed.map((t) => t.target).sort()).toEqual(ALL);
    for (const t of streamed) expect(stable(t)).toEqual(byTarget(full)[t.target]);
    for (const n of [...NON_IMAGES, ...Object.keys(SPECIAL)]) expect(r.stderr).not.toContain(path.basename(n));
  });

  it('json is streamed in report order: the same targets in the same order whatever --jobs, stdout or --output', () => {
    const one = run(['scan', 'store', '--recursive', '--format', 'json', '--jobs', '1']);
    const four = run(['scan', 'store', '--recursive', '--format', 'json', '--jobs', '4', '--output', 'streamed.json']);
    expect([one.status, four.status]).toEqual([3, 3]);
    expect(four.stdout).toBe('');
    const written = readFileSync(path.join(tmp, 'streamed.json'), 'utf8');
    const order = (r: Report) => r.targets.map((t) => t.target);
    expect(order(JSON.parse(one.stdout) as Report)).toEqual(order(full));
    expect(order(JSON.parse(written) as Report)).toEqual(order(full));
    // Byte for byte what rendering the whole report gives (durations aside).
    const durations = (s: string) =>
      s.replace(/"durationMs": \d+/g, '"durationMs": 0').replace(/"(auditedAt|startedAt)": "[^"]*"/g, '"$1": "-"');
    expect(durations(written)).toBe(durations(JSON.stringify(JSON.parse(written), null, 2) + '\n'));
    expect(durations(written)).toBe(durations(one.stdout));
  });

  it('a streamed --output that cannot be written fails with the reason, exit 2, no internal error', () => {
    for (const format of ['json', 'jsonl']) {
      const r = run(['scan', IMAGES.leakyRaw, '--format', format, '--output', 'no/such/dir/report.json']);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^hostleak: cannot write \S*\/no\/such\/dir\/report\.json: ENOENT/m);
      expect(r.stderr).toContain('check that its folder exists and is writable');
      expect(r.stderr).not.toContain('internal error');
    }
  });

  it('a second run with --cache reads no image again and gives identical findings', () => {
    const cache = path.join(tmp, 'cache');
    const fill = run(['scan', 'store', '--recursive', '--format', 'json', '--verbose', '--cache', cache]);
    expect(fill.status).toBe(3);
    // Only the link may hit in the first run: by digest, once leaky.raw's result is stored (same content).
    expect(cachedLines(fill.stderr).filter((t) => t !== IMAGES.link)).toEqual([]);
    // Failed audits are not cached (the next run tries again); everything else is.
    expect(entries(path.join(cache, 'paths'))).toHaveLength(GOOD.length);
    const second = run(['scan', 'store', '--recursive', '--format', 'json', '--verbose', '--cache', cache]);
    expect(second.status).toBe(3);
    expect(cachedLines(second.stderr)).toEqual([...GOOD].sort());
    for (const good of GOOD) expect(second.stderr).not.toContain(`${good}: phase open`);
    // Same report as the uncached run, key order included, but for durations.
    expect(json<Report>(second).targets.map(stable)).toEqual(json<Report>(fill).targets.map(stable));
    expect(byTarget(json<Report>(second))).toEqual(byTarget(full));
    expect(JSON.stringify(json<Report>(second).targets.map(stable))).toBe(JSON.stringify(full.targets.map(stable)));
  });

  it('a corrupt cache entry is ignored, the image audited again, and the entry rewritten', () => {
    const cache = path.join(tmp, 'cache-corrupt');
    expect(run(['scan', 'store', '--recursive', '--format', 'json', '--cache', cache]).status).toBe(3);
    const results = path.join(cache, 'results');
    // One result per distinct content: the link shares leaky.raw's.
    const files = entries(results).sort();
    expect(files).toHaveLength(GOOD.length - 1);
    const victim = path.join(results, files.find((f) => !readFileSync(path.join(results, f), 'utf8').includes('orphaned-home'))!);
    writeFileSync(victim, '{"format":1,"result":{"status":"ok","findi'); // cut mid-write
    const r = run(['scan', 'store', '--recursive', '--format', 'json', '--verbose', '--cache', cache]);
    expect(r.status).toBe(3);
    const cached = cachedLines(r.stderr);
    expect(cached).toHaveLength(GOOD.length - 1);
    const reaudited = GOOD.filter((g) => !cached.includes(g));
    expect(reaudited).toHaveLength(1);
    expect([IMAGES.cleanQcow2, IMAGES.hidden]).toContain(reaudited[0]);
    expect(r.stderr).toContain(`${reaudited[0]}: phase open`);
    expect(byTarget(json<Report>(r))).toEqual(byTarget(full));
    expect(() => JSON.parse(readFileSync(victim, 'utf8'))).not.toThrow();
    const again = run(['scan', 'store', '--recursive', '--format', 'json', '--verbose', '--cache', cache]);
    expect(cachedLines(again.stderr)).toEqual([...GOOD].sort());
  });

  it('editing a YAML rule, or allowing backing files, never reuses results cached under the old settings', () => {
    const cache = path.join(tmp, 'cache-rules');
    const rules = path.join(tmp, 'rules');
    mkdirSync(rules, { recursive: true });
    const rule = (glob: string) =>
      writeFileSync(
        path.join(rules, 'bob.yaml'),
        `id: bob-leftovers\nseverity: warning\ndescription: Something of bob\nremediation: Remove it\nmatch:\n  glob: "${glob}"\n`,
      );
    const scan = (...extra: string[]) => {
      const r = run(['scan', IMAGES.leakyRaw, '--format', 'json', '--verbose', '--cache', cache, '--rules-dir', rules, ...extra]);
      const paths = json<Report>(r).targets[0]!.findings.filter((f) => f.ruleId === 'bob-leftovers').map((f) => f.path);
      return { cached: cachedLines(r.stderr).length, paths };
    };
    rule('/home/bob');
    expect(scan()).toEqual({ cached: 0, paths: ['/home/bob'] });
    expect(scan()).toEqual({ cached: 1, paths: ['/home/bob'] });
    rule('/home/bob/.nix-defexpr');
    expect(scan()).toEqual({ cached: 0, paths: ['/home/bob/.nix-defexpr'] });
    expect(scan('--allow-backing-file').cached).toBe(0);
    expect(scan('--allow-backing-file').cached).toBe(1);
  });

  it('shards 1/2 and 2/2 cover every image exactly once, and merging them gives the full report', () => {
    const shards = [1, 2].map((i) => {
      const out = `shard-${i}.json`;
      const r = run(['scan', 'store', '--recursive', '--format', 'json', '--shard', `${i}/2`, '--output', out]);
      expect(r.stdout).toBe('');
      const report = JSON.parse(readFileSync(path.join(tmp, out), 'utf8')) as Report;
      // The one exit code this report means: 3 when a target was not audited completely, else 1 on an error finding.
      const incomplete = report.targets.some((t) => t.status !== 'ok');
      const failing = report.targets.some((t) => t.findings.some((f) => f.severity === 'error' && !f.suppressed));
      expect(r.status).toBe(incomplete ? 3 : failing ? 1 : 0);
      return report.targets.map((t) => t.target);
    });
    // Both shards get work (the split is a hash of the path, so it is the same on every machine).
    expect(shards[0]!.length).toBeGreaterThan(0);
    expect(shards[1]!.length).toBeGreaterThan(0);
    expect([...shards[0]!, ...shards[1]!].sort()).toEqual(ALL);
    // Running a shard twice picks the same images.
    const again = json<Report>(run(['scan', 'store', '--recursive', '--format', 'json', '--shard', '1/2']));
    expect(again.targets.map((t) => t.target)).toEqual(shards[0]);

    const merged = run(['merge', 'shard-1.json', 'shard-2.json', '--format', 'json']);
    expect(merged.status).toBe(3); // the junk images are still not audited
    const m = json<Report>(merged);
    expect(m.targets.map((t) => t.target)).toEqual(ALL); // sorted by target
    expect(byTarget(m)).toEqual(byTarget(full));

    // jsonl shards merge the same way.
    for (const i of [1, 2]) {
      run(['scan', 'store', '--recursive', '--format', 'jsonl', '--shard', `${i}/2`, '--output', `shard-${i}.jsonl`]);
    }
    const mj = run(['merge', 'shard-1.jsonl', 'shard-2.jsonl', '--format', 'json']);
    expect(byTarget(json<Report>(mj))).toEqual(byTarget(full));

    const html = run(['merge', 'shard-1.json', 'shard-2.json', '--format', 'html', '--output', 'store.html']);
    expect(html.status).toBe(3);
    const page = readFileSync(path.join(tmp, 'store.html'), 'utf8');
    expect(page).toMatch(/^<!doctype html>/i);
    for (const t of ALL) expect(page).toContain(t);
    expect(page).toContain('orphaned-home');
    expect(page).not.toMatch(/<(script|link|img)[^>]+(src|href)="https?:/i); // self-contained
  });
});

/** Interruption needs a run long enough to stop midway: distinct zstd encodings of the same disks (~1 s each). */
describeWithTools(['zstd'], 'an interrupted cached run', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-store-int-'));
    mkdirSync(path.join(tmp, 'store', 'nested'), { recursive: true });
    mkdirSync(path.join(tmp, 'tmp'));
    const levels = [1, 3, 6, 9, 12];
    for (const [i, level] of levels.entries()) {
      const src = path.join(SAMPLES, i % 2 ? 'clean.raw' : 'leaky.raw');
      const out = path.join(tmp, 'store', i % 2 ? 'nested' : '', `disk-${i}.raw.zst`);
      const r = spawnSync('zstd', ['-q', `-${level}`, '-f', src, '-o', out]);
      expect(r.status).toBe(0);
    }
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('keeps the entries of the images that finished, and the next run resumes from them', async () => {
    const cache = path.join(tmp, 'cache');
    const paths = path.join(cache, 'paths');
    const env = { ...process.env, NO_COLOR: undefined, HOSTLEAK_TMPDIR: path.join(tmp, 'tmp') };
    const child = spawn(process.execPath, [BIN, 'scan', 'store', '--recursive', '--jobs', '1', '--cache', cache, '--format', 'json'], {
      cwd: tmp,
      env,
      stdio: 'ignore',
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    let finishedBeforeKill = 0;
    for (let i = 0; i < 3000 && child.exitCode === null; i++) {
      finishedBeforeKill = existsSync(paths) ? readdirSync(paths).filter((f) => f.endsWith('.json')).length : 0;
      if (finishedBeforeKill > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGTERM');
    const end = await exited;
    expect(end.signal).toBe('SIGTERM'); // stopped midway, not finished
    const kept = readdirSync(paths).filter((f) => f.endsWith('.json'));
    expect(kept.length).toBeGreaterThanOrEqual(finishedBeforeKill);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(5);
    for (const sub of ['paths', 'results']) {
      for (const f of readdirSync(path.join(cache, sub)).filter((f) => f.endsWith('.json'))) {
        expect(() => JSON.parse(readFileSync(path.join(cache, sub, f), 'utf8'))).not.toThrow();
      }
    }
    // The decompressed copy of the image being audited was removed on the signal.
    expect(readdirSync(path.join(tmp, 'tmp'))).toEqual([]);

    const resumed = hostleak(['scan', 'store', '--recursive', '--verbose', '--cache', cache, '--format', 'json'], { cwd: tmp, env });
    expect(resumed.status).toBe(1);
    expect(cachedLines(resumed.stderr)).toHaveLength(kept.length);
    const fresh = hostleak(['scan', 'store', '--recursive', '--format', 'json'], { cwd: tmp, env });
    expect(json<Report>(resumed).targets.map(stable)).toEqual(json<Report>(fresh).targets.map(stable));
    expect(json<Report>(fresh).targets).toHaveLength(5);
  });
});

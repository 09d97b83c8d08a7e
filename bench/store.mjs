#!/usr/bin/env node
// Benchmark: an artifact store of ~50 images (raw, qcow2, zstd and gzip, in nested folders), audited
//   1. cold, without a cache                         (every image opened and audited)
//   2. cold, filling an empty --cache                (the same, plus hashing what each audit reads, and the cache writes)
//   3. warm, with the filled --cache                 (nothing has changed: no image is read again)
//   4. cold again as jsonl                           (streamed: memory stays flat)
// Prints wall time, CPU time (user+sys, from GNU time), peak RSS and the bytes the process read of each run, and the speedup warm vs cold,
// measured in this run on this machine.
// Every variant differs in its bytes (a few zero bytes appended, another compression level), so the cache cannot
// dedupe them. Built once under bench/out/store/ (about 1.5 GB, sparse where the filesystem allows).
// With --repeat N, the cold and cache-fill runs are repeated N times, alternating (each fill into an emptied cache),
// and the best wall and CPU (user+sys) times of each are compared: the machine may be shared.
// Issue 25's measure of the cache's bookkeeping: `--images 20 --kinds qcow2 --repeat 7`, the median of the per-pair
// ratios cache fill / cold (at most 1.15x).
//   node bench/store.mjs [--images 50] [--kinds raw,qcow2,zst,gz] [--jobs N] [--repeat N]
// Skipped by `npm run bench` when HOSTLEAK_BENCH_STORE=0.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { cli, here, opt, repo } from './lib.mjs';

const IMAGES = opt('images', 50);
const JOBS = opt('jobs', 0);
const REPEAT = opt('repeat', 1);
const kindsAt = process.argv.indexOf('--kinds');
const KINDS = kindsAt > 0 ? process.argv[kindsAt + 1].split(',') : ['raw', 'qcow2', 'zst', 'gz'];
const samples = path.join(repo, 'images-sample', 'out');
const out = path.join(here, 'out');
const store = path.join(out, `store-${IMAGES}${kindsAt > 0 ? `-${KINDS.join('-')}` : ''}`);
const stamp = path.join(store, '.built');

if (!existsSync(cli)) {
  console.error('build first: npm run build');
  process.exit(2);
}
for (const s of ['leaky.raw', 'clean.raw', 'leaky.qcow2', 'clean.qcow2']) {
  if (!existsSync(path.join(samples, s))) {
    console.error(`missing ${s}: run npm run samples`);
    process.exit(2);
  }
}

/** A copy of `src` at `dst` with `extra` zero bytes appended (sparse copy; distinct digest, same filesystems). */
function variant(src, dst, extra) {
  execFileSync('cp', ['--sparse=always', src, dst]);
  truncateSync(dst, statSync(src).size + extra);
}

function build() {
  rmSync(store, { recursive: true, force: true });
  const kinds = KINDS;
  for (let i = 0; i < IMAGES; i++) {
    const kind = kinds[i % kinds.length];
    const base = i % 3 === 2 ? 'clean' : 'leaky';
    const dir = path.join(store, `project-${i % 5}`, `build-${Math.floor(i / 5)}`);
    mkdirSync(dir, { recursive: true });
    const n = Math.floor(i / kinds.length); // the variant number within its kind
    if (kind === 'raw') variant(path.join(samples, `${base}.raw`), path.join(dir, `${base}.raw`), 512 * (n + 1));
    else if (kind === 'qcow2') variant(path.join(samples, `${base}.qcow2`), path.join(dir, `${base}.qcow2`), 512 * (n + 1));
    else {
      // Compress a raw variant: the compressed bytes differ, and so does the content.
      const tmp = path.join(out, 'variant.raw');
      variant(path.join(samples, `${base}.raw`), tmp, 512 * (n + 1));
      const tool = kind === 'zst' ? ['zstd', ['-q', '-1', '-f', tmp, '-o', path.join(dir, `${base}.raw.zst`)]] : ['gzip', ['-1', '-k', '-f', '-S', '.gz', tmp]];
      execFileSync(tool[0], tool[1]);
      if (kind === 'gz') {
        copyFileSync(`${tmp}.gz`, path.join(dir, `${base}.raw.gz`));
        rmSync(`${tmp}.gz`);
      }
      rmSync(tmp);
    }
  }
  writeFileSync(path.join(store, 'README.txt'), 'not an image\n');
  writeFileSync(stamp, String(IMAGES));
}

const hasTime = existsSync('/usr/bin/time');

/** Run the CLI; wall time from here, CPU time (user+sys) and peak RSS (KiB) from GNU time when present. */
function measure(label, cliArgs, { quiet = false } = {}) {
  const stats = path.join(out, 'store-time.txt');
  const io = path.join(out, 'store-io.txt');
  rmSync(io, { force: true });
  const node = [process.execPath, '--import', pathToFileURL(path.join(here, 'io-probe.mjs')).href, cli, ...cliArgs];
  const argv = hasTime ? ['/usr/bin/time', ['-f', '%e %U %S %M', '-o', stats, ...node]] : [node[0], node.slice(1)];
  const t = performance.now();
  const env = { ...process.env, CI: '1', HOSTLEAK_BENCH_IO_FILE: io };
  const r = spawnSync(argv[0], argv[1], { cwd: repo, env, maxBuffer: 1 << 30, encoding: 'utf8' });
  const s = (performance.now() - t) / 1000;
  if (r.status !== 0 && r.status !== 1) throw new Error(`${label}: exit ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
  const [, user, sys, rssKiB] = hasTime ? readFileSync(stats, 'utf8').trim().split('\n').pop().split(' ').map(Number) : [];
  const cpu = hasTime ? user + sys : NaN;
  const peak = hasTime ? rssKiB / 1024 : NaN;
  const read = existsSync(io) ? Number(readFileSync(io, 'utf8')) / 1024 ** 2 : NaN;
  if (!quiet) {
    const cpuText = Number.isNaN(cpu) ? '' : `   CPU ${cpu.toFixed(2).padStart(5)} s (user ${user.toFixed(2)} + sys ${sys.toFixed(2)})`;
    const readText = Number.isNaN(read) ? '' : `   read ${read.toFixed(0).padStart(4)} MiB`;
    console.log(`${label.padEnd(40)} ${s.toFixed(2).padStart(7)} s${cpuText}   peak RSS ${Number.isNaN(peak) ? '?' : peak.toFixed(0).padStart(4)} MiB${readText}`);
  }
  return { s, cpu, peak, read, stdout: r.stdout, stderr: r.stderr };
}

mkdirSync(out, { recursive: true });
if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== String(IMAGES)) {
  console.error(`building a store of ${IMAGES} images under ${store} ...`);
  build();
}
const cache = path.join(out, 'store-cache');
rmSync(cache, { recursive: true, force: true });
const jobs = JOBS ? ['--jobs', String(JOBS)] : [];
const base = ['scan', store, '--recursive', ...jobs];

console.log(`\n== store: ${IMAGES} images (${KINDS.join(', ')}) under ${store}${JOBS ? `, --jobs ${JOBS}` : ''}`);
const cold = measure('cold, no cache (json)', [...base, '--no-cache', '--format', 'json']);
const fill = measure('cold, filling an empty --cache (json)', [...base, '--cache', cache, '--format', 'json']);
const warm = measure('warm, --cache (json)', [...base, '--cache', cache, '--format', 'json', '--verbose']);
const jsonl = measure('cold, no cache (jsonl, streamed)', [...base, '--format', 'jsonl']);

const report = JSON.parse(cold.stdout);
// A cached result says so and keeps the time of the audit it records; everything else must be the same.
const strip = (r) => JSON.stringify(r.targets.map((t) => ({ ...t, durationMs: 0, auditedAt: null, cached: undefined })));
const hits = warm.stderr.split('\n').filter((l) => l.endsWith('cached result (matched by stat)')).length;
const statuses = report.targets.reduce((a, t) => ({ ...a, [t.status]: (a[t.status] ?? 0) + 1 }), {});
console.log(`targets: ${report.targets.length} ${JSON.stringify(statuses)}, findings: ${report.targets.reduce((a, t) => a + t.findings.length, 0)}`);
console.log(`warm run: ${hits}/${report.targets.length} cached, same findings as cold: ${strip(JSON.parse(warm.stdout)) === strip(report)}`);
console.log(`jsonl lines: ${jsonl.stdout.trimEnd().split('\n').length}`);
// Conservative on a shared machine: against the fastest of the three cold runs.
const fastestCold = Math.min(cold.s, fill.s, jsonl.s);
console.log(`speedup warm vs fastest cold run: ${(fastestCold / warm.s).toFixed(1)}x (vs cold json: ${(cold.s / warm.s).toFixed(1)}x)`);
console.log(`cache fill vs cold json: ${(fill.s / cold.s).toFixed(2)}x${Number.isNaN(fill.cpu) ? '' : ` (CPU user+sys: ${(fill.cpu / cold.cpu).toFixed(2)}x)`}`);
// Bytes read by the hostleak process (not its decompressors): what the cache adds, whatever the load.
if (!Number.isNaN(fill.read)) console.log(`bytes read, cache fill vs cold json: ${(fill.read / cold.read).toFixed(2)}x (${fill.read.toFixed(0)} vs ${cold.read.toFixed(0)} MiB)`);
if (REPEAT > 1) {
  const colds = [cold];
  const fills = [fill];
  for (let i = 1; i < REPEAT; i++) {
    colds.push(measure('', [...base, '--no-cache', '--format', 'json'], { quiet: true }));
    rmSync(cache, { recursive: true, force: true });
    fills.push(measure('', [...base, '--cache', cache, '--format', 'json'], { quiet: true }));
  }
  const best = (runs, k) => Math.min(...runs.map((r) => r[k]));
  const median = (runs, k) => {
    const v = runs.map((r) => r[k]).sort((a, b) => a - b);
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  const list = (runs, k) => runs.map((r) => r[k].toFixed(2)).join(' ');
  console.log(`cold json, ${REPEAT} runs: wall ${list(colds, 's')} s; CPU ${list(colds, 'cpu')} s`);
  console.log(`cache fill, ${REPEAT} runs: wall ${list(fills, 's')} s; CPU ${list(fills, 'cpu')} s`);
  console.log(
    `cache fill vs cold json, best of ${REPEAT}: ${(best(fills, 's') / best(colds, 's')).toFixed(2)}x wall, ${(best(fills, 'cpu') / best(colds, 'cpu')).toFixed(2)}x CPU (user+sys)`,
  );
  console.log(
    `cache fill vs cold json, median of ${REPEAT}: ${(median(fills, 's') / median(colds, 's')).toFixed(2)}x wall, ${(median(fills, 'cpu') / median(colds, 'cpu')).toFixed(2)}x CPU (user+sys)`,
  );
  // Each fill ran right after its cold run: the ratio within a pair is the least sensitive to load that comes and goes.
  const pairs = (k) => colds.map((c, i) => ({ r: fills[i][k] / c[k] }));
  console.log(
    `cache fill vs cold json, median of ${REPEAT} back-to-back pairs: ${median(pairs('s'), 'r').toFixed(2)}x wall, ${median(pairs('cpu'), 'r').toFixed(2)}x CPU (user+sys)`,
  );
}

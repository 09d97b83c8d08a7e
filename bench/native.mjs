#!/usr/bin/env node
// Benchmark of the native backend, everything measured in this run on this machine (ratios, never thresholds):
//   - the full audit: the built CLI, all rules, `scan --backend native --format json`, as a user runs it;
//   - sleuthkit's `fls -r -m /` over the same ext4 (the yardstick of issue 6);
//   - the native listing alone (readers only, in a child process), for the reader's share;
// on a GPT disk holding an ext4 with ~150k entries and many symlinks (bench/make-large.mjs, cached under bench/out/).
// Prints the best-of-N wall and CPU (user+sys) times, the ratios, and the audit's peak RSS.
//   node bench/native.mjs [--runs 3] [--paths 6200]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cli, here, opt, repo } from './lib.mjs';
import { largeImagePath, makeLarge, START_SECTOR } from './make-large.mjs';

const RUNS = opt('runs', Number(process.env.HOSTLEAK_BENCH_RUNS ?? 3));
const PATHS = opt('paths', 6200);
const readers = path.join(repo, 'dist', 'src', 'backends', 'native', 'index.js');
const probe = path.join(here, 'rss-probe.mjs');

if (!existsSync(cli)) {
  console.error('build first: npm run build');
  process.exit(2);
}
const disk = await makeLarge(largeImagePath(path.join(here, 'out'), PATHS), { paths: PATHS });
const tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-bench-'));
const rssFile = path.join(tmp, 'rss');

/** CPU time (user+sys, ms) of this process's waited-for children so far, from /proc/self/stat (cutime, cstime). */
function childCpuMs() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100; // fields 16 and 17; USER_HZ is 100 on Linux
}

function run(cmd, argv, env = process.env) {
  const cpu0 = childCpuMs();
  const t = performance.now();
  const r = spawnSync(cmd, argv, { env, maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
  const wall = performance.now() - t;
  if (r.status !== 0 && r.status !== 1) throw new Error(`${cmd} ${argv.join(' ')}: exit ${r.status}: ${String(r.stderr).slice(0, 500)}`);
  return { wall, cpu: childCpuMs() - cpu0, stdout: r.stdout };
}

const LISTING = `
const m = await import(process.argv[1]);
const src = m.openNativeSource(process.argv[2]);
const { views, problems } = await m.listNativeFilesystems(src);
process.stdout.write(JSON.stringify({ entries: views.reduce((a, v) => a + v.inventory.size, 0), problems: problems.length }));
`;

const cases = {
  fls: () => run('fls', ['-r', '-m', '/', '-o', String(START_SECTOR), disk]),
  audit: () => run(process.execPath, ['--import', probe, cli, 'scan', '--backend', 'native', '--format', 'json', disk], { ...process.env, HOSTLEAK_BENCH_RSS_FILE: rssFile }),
  listing: () => run(process.execPath, ['--input-type=module', '-e', LISTING, readers, disk]),
};
const best = Object.fromEntries(Object.keys(cases).map((k) => [k, { wall: Infinity, cpu: Infinity, last: null }]));
let peakRss = 0;
// Interleaved, so a burst of load elsewhere on the machine hits every contender alike.
for (let i = 0; i < RUNS; i++) {
  for (const [name, fn] of Object.entries(cases)) {
    const r = fn();
    best[name].wall = Math.min(best[name].wall, r.wall);
    best[name].cpu = Math.min(best[name].cpu, r.cpu);
    best[name].last = r;
    if (name === 'audit') peakRss = Math.max(peakRss, Number(readFileSync(rssFile, 'utf8')));
  }
}
rmSync(tmp, { recursive: true, force: true });

const report = JSON.parse(String(best.audit.last.stdout));
const t = report.targets[0];
const flsLines = String(best.fls.last.stdout).split('\n').length - 1;
const listed = JSON.parse(String(best.listing.last.stdout));
const line = (label, b) => console.log(`${label.padEnd(46)} ${b.wall.toFixed(0).padStart(6)} ms wall ${b.cpu.toFixed(0).padStart(6)} ms cpu`);
console.log(`== native backend: ${path.relative(process.cwd(), disk)} (best of ${RUNS}, interleaved; load average ${os.loadavg()[0].toFixed(1)})`);
line('fls -r -m / (sleuthkit)', best.fls);
line('hostleak scan --backend native --format json', best.audit);
line('native listing only (readers, child process)', best.listing);
console.log(`entries: fls ${flsLines} lines, native ${listed.entries} (including /); audit: status ${t.status}, backend ${t.backend}, ${t.findings.length} findings`);
console.log(`ratio full audit / fls: ${(best.audit.wall / best.fls.wall).toFixed(2)} wall, ${(best.audit.cpu / best.fls.cpu).toFixed(2)} cpu (issue 6: <= 3, goal 1)`);
console.log(`ratio listing / fls:    ${(best.listing.wall / best.fls.wall).toFixed(2)} wall, ${(best.listing.cpu / best.fls.cpu).toFixed(2)} cpu`);
console.log(`full audit peak RSS: ${(peakRss / 1024).toFixed(0)} MiB`);

#!/usr/bin/env node
// Where the native audit's time goes: runs the built CLI (`scan --backend native --format json`; tsc's modules, not the
// bundle, so that each sample names its file: bench/unbundled.mjs) on the 147k-entry
// bench image under `node --cpu-prof` and attributes every sample to a phase by its stack:
//   a rule (rules/<id>), the shared content pass (src/engine/text), rendering (src/reporters), inventory queries
//   made by them (counted with the rule that made them), reading (src/backends/native: readers + inventory
//   building under them), start-up (module loading before the scan), garbage collection, other.
// Also prints the process's peak RSS (for where the memory goes, `node --heap-prof` or a heap snapshot of the CLI).
//   node bench/profile.mjs [--paths 6200] [--interval 200] [--top 15]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { here, opt, repo } from './lib.mjs';
import { largeImagePath, makeLarge } from './make-large.mjs';

const PATHS = opt('paths', 6200);
const TOP = opt('top', 15);
const disk = await makeLarge(largeImagePath(path.join(here, 'out'), PATHS), { paths: PATHS });
const dir = mkdtempSync(path.join(os.tmpdir(), 'hostleak-prof-'));
const rssFile = path.join(dir, 'rss');
const r = spawnSync(
  process.execPath,
  ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', String(opt('interval', 200)), '--import', path.join(here, 'rss-probe.mjs'), path.join(here, 'unbundled.mjs'), 'scan', '--backend', 'native', '--format', 'json', disk],
  { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, HOSTLEAK_BENCH_RSS_FILE: rssFile } },
);
if (r.status !== 0 && r.status !== 1) throw new Error(`audit exited ${r.status}`);
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
const prof = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
const rss = Number(readFileSync(rssFile, 'utf8'));
rmSync(dir, { recursive: true, force: true });

const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const rel = (url) => (url.startsWith('file://') ? path.relative(repo, fileURLToPath(url)) : url);
/** The phase of a stack: the outermost frame that names one wins, so an inventory walk inside a rule is the rule's. */
function phase(id) {
  const n = nodes.get(id);
  const fn = n.callFrame.functionName;
  if (fn === '(garbage collector)') return 'garbage collection';
  if (fn === '(program)' || fn === '(idle)') return 'other (program, idle)';
  let found = null;
  let sawScan = false;
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const f = rel(nodes.get(cur).callFrame.url);
    let m;
    if ((m = /^dist\/rules\/([^/]+)\.js$/.exec(f))) found = `rule ${m[1]}`;
    else if (/^dist\/src\/engine\/(kit\/)?text\.js$/.test(f)) found = 'content pass (engine/kit/text)';
    else if (/^dist\/src\/engine\/(kit\/)?entries\.js$/.test(f) && !(found ?? '').startsWith('rule')) found = 'shared entry pass (framework)';
    else if (/^dist\/src\/reporters\//.test(f)) found = 'rendering (reporters)';
    else if (/^dist\/src\/engine\/(runtime\/)?(accounts|runner|imagefs|registry)\.js$/.test(f) && !(found ?? '').startsWith('rule')) found ??= 'engine (runner, accounts, reads)';
    else if (/^dist\/src\/backends\/assemble\.js$/.test(f)) found ??= 'assembly';
    else if (/^dist\/src\/backends\/native\//.test(f)) found = found?.startsWith('inventory') || !found ? 'reading (native readers)' : found;
    else if (/^dist\/src\/inventory\.js$/.test(f)) found ??= 'inventory (building, indexes)';
    if (/^dist\/src\/(scan|commands\/scan)\.js$/.test(f)) sawScan = true;
  }
  return found ?? (sawScan ? 'other (scan)' : 'start-up, module loading, other');
}
const by = new Map();
let total = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const dt = prof.timeDeltas[i] ?? 0;
  const k = phase(prof.samples[i]);
  by.set(k, (by.get(k) ?? 0) + dt);
  total += dt;
}
console.log(`== cpu profile of the native audit: ${path.relative(process.cwd(), disk)} (load average ${os.loadavg()[0].toFixed(1)})`);
for (const [k, us] of [...by].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
  console.log(`${k.padEnd(40)} ${(us / 1000).toFixed(0).padStart(6)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %`);
}
console.log(`${'total (sampled)'.padEnd(40)} ${(total / 1000).toFixed(0).padStart(6)} ms`);
console.log(`peak RSS: ${(rss / 1024).toFixed(0)} MiB`);

#!/usr/bin/env node
// Start-up of the built CLI against node's own (`node -e 0`), in the same run: the median CPU (perf's task-clock,
// else user+system) and wall time of
// N paired runs of each command, and its ratio to node's. A CI step pays start-up on every call; a scheduled audit of
// hundreds of small images pays it per image when each is its own process.
//   node bench/startup.mjs [--runs 21]
import os from 'node:os';
import path from 'node:path';
import { cli, measure, median, opt, perfStat, repo } from './lib.mjs';

const RUNS = opt('runs', 21);
const sample = path.join(repo, 'images-sample', 'out', 'clean.raw');
const cases = [
  ['node -e 0', ['-e', '0']],
  ['hostleak --version', [cli, '--version']],
  ['hostleak --help', [cli, '--help']],
  ['hostleak rules', [cli, 'rules']],
  ['hostleak scan clean.raw (json)', [cli, 'scan', sample, '--format', 'json', '--backend', 'native']],
];
const runs = new Map(cases.map(([name]) => [name, []]));
// Interleaved, so a change in the machine's load touches every command alike.
for (let i = 0; i < RUNS; i++) for (const [name, argv] of cases) runs.get(name).push(measure(process.execPath, argv));
const med = (name, k) => median(runs.get(name).map((r) => r[k]));
const base = med('node -e 0', 'cpu');
console.log(`start-up, medians of ${RUNS} interleaved runs (CPU: ${perfStat ? 'perf task-clock' : 'user+sys'}; load ${os.loadavg()[0].toFixed(1)}):`);
for (const [name] of cases) {
  const m = med(name, 'cpu');
  console.log(`  ${name.padEnd(32)} ${m.toFixed(0).padStart(5)} ms CPU  ${(m / base).toFixed(2)}x node -e 0   ${med(name, 'wall').toFixed(0).padStart(5)} ms wall`);
}

#!/usr/bin/env node
// Start-up of the built CLI against node's own (`node -e 0`), in the same run: the median CPU (user+system) of
// N paired runs of each command, and its ratio to node's. A CI step pays start-up on every call; a scheduled audit of
// hundreds of small images pays it per image when each is its own process.
//   node bench/startup.mjs [--runs 21]
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { cli, opt, repo, run } from './lib.mjs';

// perf's task-clock counts CPU in microseconds; GNU time's 10 ms steps are too coarse for ~60 ms runs.
const perf = spawnSync('perf', ['stat', '-x,', '-e', 'task-clock', 'true']).status === 0;
function cpuOf(argv) {
  if (!perf) return run(process.execPath, argv).cpu;
  const r = spawnSync('perf', ['stat', '-x,', '-e', 'task-clock', process.execPath, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0 && r.status !== 1) throw new Error(`${argv.join(' ')}: exit ${r.status}: ${String(r.stderr).slice(0, 300)}`);
  const line = String(r.stderr).trim().split('\n').find((l) => l.includes('task-clock'));
  return Number(line.split(',')[0]);
}

const RUNS = opt('runs', 21);
const sample = path.join(repo, 'images-sample', 'out', 'clean.raw');
const cases = [
  ['node -e 0', ['-e', '0']],
  ['hostleak --version', [cli, '--version']],
  ['hostleak --help', [cli, '--help']],
  ['hostleak rules', [cli, 'rules']],
  ['hostleak scan clean.raw (json)', [cli, 'scan', sample, '--format', 'json', '--backend', 'native']],
];
const cpu = new Map(cases.map(([name]) => [name, []]));
// Interleaved, so a change in the machine's load touches every command alike.
for (let i = 0; i < RUNS; i++) for (const [name, argv] of cases) cpu.get(name).push(cpuOf(argv));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(cpu.get('node -e 0'));
console.log(`start-up, median CPU (${perf ? 'perf task-clock' : 'GNU time'}) of ${RUNS} interleaved runs (load ${os.loadavg()[0].toFixed(1)}):`);
for (const [name] of cases) {
  const m = median(cpu.get(name));
  console.log(`  ${name.padEnd(32)} ${m.toFixed(0).padStart(5)} ms  ${(m / base).toFixed(2)}x node -e 0`);
}

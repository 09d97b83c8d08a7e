// Helpers shared by the benchmarks: timed child runs, best-of-N bookkeeping, the one-line summary of a JSON report.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The bench folder, the repository, and the built CLI every bench runs. */
export const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.join(here, '..');
export const cli = path.join(repo, 'dist', 'src', 'bin', 'hostleak.js');

const args = process.argv.slice(2);
/** A numeric command-line option of the bench (`--runs 5`), or `def`. */
export function opt(name, def) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}

/** Whether benches that compare with the guestfs backend run it, and under which acceleration. */
export const GUESTFS = process.env.HOSTLEAK_BENCH_GUESTFS !== '0';
export const accel = process.env.HOSTLEAK_BENCH_ACCEL ?? 'tcg';

const TIME = '/usr/bin/time';

/**
 * Run a command to completion; exit 0 or 1 (findings) is success, anything else throws with its stderr. `cpu` is the
 * child's user+system time in ms (GNU time), the number to compare on a loaded machine, where wall time mostly
 * measures the other processes.
 */
export function run(cmd, argv, env = process.env) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hostleak-bench-time-'));
  const out = path.join(dir, 'time');
  try {
    const timed = existsSync(TIME);
    const t = performance.now();
    const r = timed
      ? spawnSync(TIME, ['-f', '%U %S', '-o', out, cmd, ...argv], { env, maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawnSync(cmd, argv, { env, maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
    const wall = performance.now() - t;
    if (r.status !== 0 && r.status !== 1) throw new Error(`${cmd} ${argv.join(' ')}: exit ${r.status}: ${String(r.stderr).slice(0, 500)}`);
    const cpu = timed ? readFileSync(out, 'utf8').trim().split('\n').pop().split(' ').reduce((a, v) => a + Number(v) * 1000, 0) : NaN;
    return { wall, cpu, stdout: String(r.stdout), status: r.status };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `status/backend, N findings` of the first target of a `--format json` report. */
export function summary(r) {
  const t = JSON.parse(r.stdout).targets[0];
  return `${t.status}/${t.backend}, ${t.findings.length} findings`;
}

/** Keeps the fastest run per key. */
export function bestOf() {
  const best = new Map();
  return {
    keep(key, r) {
      const b = best.get(key);
      if (!b || r.wall < b.wall) best.set(key, r);
    },
    get: (key) => best.get(key),
  };
}

export const seconds = (ms) => `${(ms / 1000).toFixed(2).padStart(7)} s`;

/** The median of numbers (the mean of the middle two for an even count). */
export function median(xs) {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

/** Whether `perf stat` runs here (CPU by task-clock, in microseconds; GNU time counts in 10 ms steps). */
export const perfStat = spawnSync('perf', ['stat', '-x,', '-e', 'task-clock', 'true'], { stdio: 'ignore' }).status === 0;

/**
 * Run a command to completion under `perf stat -e task-clock` (when it runs here) and GNU time: wall ms, CPU ms
 * (task-clock, else user+sys), peak RSS in KiB, stdout and stderr. Exit 0 or 1 (findings) is success.
 */
export function measure(cmd, argv, env = process.env) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hostleak-bench-measure-'));
  const timeOut = path.join(dir, 'time');
  const perfOut = path.join(dir, 'perf');
  try {
    let full = existsSync(TIME) ? [TIME, '-f', '%U %S %M', '-o', timeOut, cmd, ...argv] : [cmd, ...argv];
    if (perfStat) full = ['perf', 'stat', '-x,', '-e', 'task-clock', '-o', perfOut, '--', ...full];
    const t = performance.now();
    const r = spawnSync(full[0], full.slice(1), { env, maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
    const wall = performance.now() - t;
    if (r.status !== 0 && r.status !== 1) throw new Error(`${cmd} ${argv.join(' ')}: exit ${r.status}: ${String(r.stderr).slice(0, 500)}`);
    const [user, sys, rssKiB] = existsSync(timeOut) ? readFileSync(timeOut, 'utf8').trim().split('\n').pop().split(' ').map(Number) : [NaN, NaN, NaN];
    const perfLine = perfStat ? readFileSync(perfOut, 'utf8').split('\n').find((l) => l.includes('task-clock')) : undefined;
    const cpu = perfLine ? Number(perfLine.split(',')[0]) : (user + sys) * 1000;
    return { wall, cpu, rssKiB, stdout: String(r.stdout), stderr: String(r.stderr), status: r.status };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

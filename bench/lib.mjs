// Helpers shared by the benchmarks: timed child runs, best-of-N bookkeeping, the one-line summary of a JSON report.
import { spawnSync } from 'node:child_process';

/** Run a command to completion; exit 0 or 1 (findings) is success, anything else throws with its stderr. */
export function run(cmd, argv, env = process.env) {
  const t = performance.now();
  const r = spawnSync(cmd, argv, { env, maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
  const wall = performance.now() - t;
  if (r.status !== 0 && r.status !== 1) throw new Error(`${cmd} ${argv.join(' ')}: exit ${r.status}: ${String(r.stderr).slice(0, 500)}`);
  return { wall, stdout: String(r.stdout), status: r.status };
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

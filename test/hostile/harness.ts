/**
 * Run the built CLI on a hostile case the way CI would, and measure it: exit code, wall time and peak RSS of the
 * process (GNU time), with TMPDIR pointed at a fresh directory so that anything left behind is seen.
 */
import { afterAll, beforeAll } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, REPO } from '../helpers/cli.js';
import { sharedFixture } from '../helpers/fixtures.js';

/** The README's bound on a hostile target's peak RSS (test/hostile/safety-doc.test.ts keeps the two the same). */
export const MEMORY_MIB = 512;

export interface Measured {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Wall time in seconds. */
  seconds: number;
  /** Peak resident set size of the hostleak process (and the children it waited for), in MiB. */
  peakMiB: number;
  /** Whatever was left in the run's TMPDIR. */
  leftovers: string[];
}

export function runMeasured(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Measured {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'hl-hostile-run-'));
  const stats = path.join(tmp, '..', `${path.basename(tmp)}.time`);
  const started = Date.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', stats, process.execPath, BIN, ...args], {
    encoding: 'utf8',
    cwd: REPO,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, TMPDIR: tmp, HOSTLEAK_TMPDIR: tmp, ...opts.env },
    timeout: opts.timeoutMs ?? 180_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  const seconds = (Date.now() - started) / 1000;
  let peakMiB = NaN;
  try {
    const lines = readFileSync(stats, 'utf8').trim().split('\n');
    peakMiB = Number(lines[lines.length - 1]) / 1024;
  } catch {
    /* time did not write: leave NaN, the assertion shows it */
  }
  const leftovers = readdirSync(tmp);
  rmSync(tmp, { recursive: true, force: true });
  rmSync(stats, { force: true });
  // GNU time reports a child killed by a signal on stderr ("Command terminated by signal 9"): keep it visible.
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, seconds, peakMiB, leftovers };
}

/** One line per measured run, printed at the end of a suite (the numbers the issue asks for). */
export const measurements: string[] = [];
export function record(name: string, m: Measured): Measured {
  measurements.push(`${name}: exit ${m.status}, ${m.seconds.toFixed(2)} s, peak RSS ${m.peakMiB.toFixed(0)} MiB`);
  return m;
}

export interface HostileCase {
  name: string;
  file: string;
  reason: RegExp;
}

/**
 * The named cases of images-sample/hostile.mjs, built before the suite as shared fixtures (test/helpers/fixtures.ts:
 * once for every file and worker, made again when hostile.mjs changes); the suite's measurements are printed after
 * it. Returns the cases by name, filled in once beforeAll ran.
 */
export function hostileCases(names: string[]): Record<string, HostileCase> {
  const cases: Record<string, HostileCase> = {};
  beforeAll(async () => {
    Object.assign(cases, await loadHostileCases(names));
  });
  afterAll(() => {
    if (measurements.length > 0) console.log(measurements.join('\n'));
  });
  return cases;
}

/** The named cases of images-sample/hostile.mjs as shared fixtures, each built once (see hostileCases). */
export async function loadHostileCases<T extends HostileCase = HostileCase>(names: string[]): Promise<Record<string, T>> {
  // @ts-expect-error plain ESM builder script without types
  const { buildHostile } = (await import('../../images-sample/hostile.mjs')) as { buildHostile: (d: string, n: string[]) => Record<string, T> };
  const out: Record<string, T> = {};
  for (const name of names) {
    out[name] = sharedFixture({ name: `hostile-${name}`, inputs: ['images-sample/hostile.mjs'] }, (dir) => buildHostile(dir, [name])[name]!).value;
  }
  return out;
}

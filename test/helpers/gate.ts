/** Run the CLI in-process (src/cli.ts run()) from the repository root, and copy sample trees to scratch dirs. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, type RunResult } from '../../src/cli.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SAMPLES = path.join(REPO_ROOT, 'images-sample', 'out');

/** A fixed build host, so outputs do not depend on who runs the tests. */
export const TEST_HOST = ['--host-user', 'builder', '--host-home', '/home/builder', '--host-name', 'buildhost'];

export function cli(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return run(argv, { cwd: opts.cwd ?? REPO_ROOT, env: opts.env ?? { PATH: process.env.PATH }, color: false });
}

/** A scratch directory removed by the returned function. */
export function scratch(prefix = 'hostleak-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Copy a sample tree preserving owners, modes, symlinks and times (cp -a). */
export function copyTree(src: string, dest: string): void {
  execFileSync('cp', ['-a', src, dest]);
}

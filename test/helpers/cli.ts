/** Run the built CLI as a user would: a real process, real exit code. */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';

export const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const BIN = path.join(REPO, 'dist/src/bin/hostleak.js');
export const SAMPLES = path.join(REPO, 'images-sample/out');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function hostleak(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    cwd: opts.cwd ?? REPO,
    env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...opts.env },
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like hostleak(), without blocking this process: for tests whose servers run in it (a node:http server). */
export function hostleakAsync(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? REPO,
      env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

export function json<T = unknown>(r: CliResult): T {
  return JSON.parse(r.stdout) as T;
}

/**
 * The temp directory: every temporary folder hostleak makes (decompressed images, archive members and nested images
 * copied out) is made here, named `hostleak-<pid>-XXXXXX`, and removed on close, on signals and at exit
 * (cleanup.ts). What a SIGKILL or an out-of-memory kill leaves behind cannot be removed by its owner: the first
 * temp folder a process makes sweeps those, the `hostleak-<pid>-*` folders older than a day whose process is gone.
 */
import { mkdtempSync, readdirSync, rmSync, statfsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { registerCleanup } from './cleanup.js';

export function tmpBase(): string {
  return process.env.HOSTLEAK_TMPDIR ?? os.tmpdir();
}

/** The default write limit: 80% of what the temp filesystem has free now. */
export function defaultWriteLimit(dir: string): number {
  try {
    const st = statfsSync(dir);
    return Math.floor(Number(st.bavail) * Number(st.bsize) * 0.8);
  } catch {
    return 16 * 1024 ** 3;
  }
}

/** Leftovers older than this, of a process that is gone, are swept. */
export const STALE_MS = 24 * 3600 * 1000;
const OWNED = /^hostleak-(\d+)-[A-Za-z0-9]{6}$/;

/** Whether process `pid` still runs (EPERM: it does, as another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove `hostleak-<pid>-*` folders in `base` older than a day whose process is gone. Returns what was removed. */
export function sweepStale(base: string, now = Date.now()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = OWNED.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    const full = path.join(base, name);
    try {
      const st = statSync(full, { throwIfNoEntry: false });
      if (!st?.isDirectory() || now - st.mtimeMs < STALE_MS || alive(Number(m[1]))) continue;
      rmSync(full, { recursive: true, force: true });
      removed.push(full);
    } catch {
      /* another sweeper, or not ours to remove: leave it */
    }
  }
  return removed;
}

const swept = new Set<string>();

/** A temporary directory removed on close, on signals and at exit. */
export function tempDir(base = tmpBase()): { dir: string; cleanup: () => void } {
  if (!swept.has(base)) {
    swept.add(base);
    sweepStale(base);
  }
  const dir = mkdtempSync(path.join(base, `hostleak-${process.pid}-`));
  const cleanup = registerCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, cleanup };
}

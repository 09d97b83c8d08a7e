/**
 * Libraries loaded on first use: most runs (a native scan of one image) never need them, and loading them costs
 * start-up time on every run (fast-glob and its dependencies: ~30 ms of CPU).
 */
import { createRequire } from 'node:module';

type FastGlob = typeof import('fast-glob');
let fastGlobModule: FastGlob | null = null;

export function fastGlob(): FastGlob {
  return (fastGlobModule ??= createRequire(import.meta.url)('fast-glob') as FastGlob);
}

/** Whether `arg` may be a glob pattern (fast-glob's answer), without loading fast-glob for a plain path. */
export function isDynamicPattern(arg: string): boolean {
  return /[*?[\]{}()!+@]/.test(arg) && fastGlob().isDynamicPattern(arg);
}

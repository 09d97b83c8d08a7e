/**
 * Libraries loaded on first use: most runs (a native scan of one image) never need them, and loading them costs
 * every run (fast-glob and its dependencies: ~30 ms of CPU; lz4js allocates 5 MB of tables when loaded).
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

type Lz4js = typeof import('lz4js');
let lz4Module: Lz4js | null = null;

/** lz4js, loaded on the first lz4 block rather than with every audit. */
export function lz4js(): Lz4js {
  return (lz4Module ??= createRequire(import.meta.url)('lz4js') as Lz4js);
}

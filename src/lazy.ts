/**
 * The one lazy loader: packages loaded on first use, then kept. Most runs (a native scan of one image) never need
 * them, and loading one costs every run that imports it (fast-glob and its dependencies: ~30 ms of CPU; lz4js
 * allocates 5 MB of tables when loaded; xmlbuilder2 ~60 ms; yargs, ajv and yaml start-up time). Every package that
 * loads late is named here (test/structure/layers.test.ts keeps createRequire to this file).
 */
import { createRequire } from 'node:module';
import type { Argv } from 'yargs';

const require = createRequire(import.meta.url);

/** A getter that loads `id` the first time it is called and returns the same module after. */
export function lazy<T>(id: string): () => T {
  let mod: T | undefined;
  return () => (mod ??= require(id) as T);
}

/**
 * node's own modules that a plain native scan never touches, loaded on first use like the packages (together ~7 ms of
 * start-up): child_process (the decompressors, qemu-img and guestfish), worker_threads (remote sources) and crypto.
 */
export const childProcess = lazy<typeof import('node:child_process')>('node:child_process');
export const workerThreads = lazy<typeof import('node:worker_threads')>('node:worker_threads');
/** node:crypto: hashes for findings, redaction, the cache and the reports; a clean native scan hashes nothing (~3 ms). */
export const nodeCrypto = lazy<typeof import('node:crypto')>('node:crypto');

export const fastGlob = lazy<typeof import('fast-glob')>('fast-glob');

/** Whether `arg` may be a glob pattern (fast-glob's answer), without loading fast-glob for a plain path. */
export function isDynamicPattern(arg: string): boolean {
  return /[*?[\]{}()!+@]/.test(arg) && fastGlob().isDynamicPattern(arg);
}

/** lz4js, loaded on the first lz4 block rather than with every audit. */
export const lz4js = lazy<typeof import('lz4js')>('lz4js');

/** The yaml package: most runs read no YAML file. */
export const yaml = lazy<typeof import('yaml')>('yaml');

/** ajv: only config files and declarative rules are validated. */
export const ajv = lazy<typeof import('ajv')>('ajv');

/** xmlbuilder2: only the JUnit format writes XML. */
export const xmlbuilder2 = lazy<typeof import('xmlbuilder2')>('xmlbuilder2');

/** xz-decompress: only xz-compressed images. Its CommonJS build names the class either way. */
export const xzModule = lazy<{
  XzReadableStream?: new (input: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;
  default?: { XzReadableStream: new (input: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array> };
}>('xz-decompress');

/**
 * yargs' CommonJS build: its help layout wraps at word boundaries (the ESM build's cliui cuts words in two). Loaded
 * by the first parse: `hostleak --version` answers without it.
 */
export const yargs = lazy<(args?: string[]) => Argv>('yargs/yargs');

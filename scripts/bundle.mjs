#!/usr/bin/env node
// The CLI as one bundled entry (run by `npm run build`, after tsc): node compiles and resolves one file instead of
// ~160 modules, which is most of a small audit's start-up (docs/performance.md, `node bench/startup.mjs`).
//
// The entry tsc wrote (dist/src/bin/hostleak.js) is replaced by the bundle; each command is its own chunk, loaded
// when it runs (src/cli.ts imports them on demand), so `hostleak --version` or `--help` loads no reader or rule.
// Packages stay external (node_modules, loaded on first use by src/lazy.ts). Everything else under dist/ is tsc's
// output as before: the `hostleak/kit` export and the tests' imports do not go through the bundle.
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(repo, 'dist/src/bin');
const chunks = path.join(bin, 'chunks');
rmSync(chunks, { recursive: true, force: true });
// tsc's map describes the module the bundle replaces.
rmSync(path.join(bin, 'hostleak.js.map'), { force: true });

await build({
  entryPoints: [path.join(bin, 'hostleak.js')],
  outdir: bin,
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  chunkNames: 'chunks/[name]-[hash]',
  logLevel: 'warning',
});
console.error(`bundle: dist/src/bin/hostleak.js + ${readdirSync(chunks).filter((f) => f.endsWith('.js')).length} chunks`);

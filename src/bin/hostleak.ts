#!/usr/bin/env node
/**
 * The `hostleak` command. The build (scripts/bundle.mjs) puts the whole CLI into one script beside this file,
 * hostleak.cjs, which starts through V8's code cache (src/bin/compile-cache.ts); without it (tsc's output alone) the
 * modules load as they are (src/main.ts).
 *
 * This folder is CommonJS (src/bin/package.json, copied to dist/ by the build): an ES-module entry costs ~8 ms of
 * start-up before its first line runs (node starts its ES-module loader and wraps every builtin it imports), which
 * `hostleak --version` and every small scan paid.
 */
import { readFileSync, writeSync } from 'node:fs';
import path from 'node:path';

// `hostleak --version` (a CI step's first call) needs neither the bundle, its loader nor the parser, nor the heap
// tuning (node:v8 loads node's streams) or process.stdout (a stream too): package.json's version (two folders above
// dist/src/bin) goes straight to fd 1. A reader already gone (EPIPE) is not an error, as for every other output.
if (process.argv.length === 3 && process.argv[2] === '--version') {
  const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
  try {
    writeSync(1, `${pkg.version}\n`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
  }
} else {
  // First: it tunes the heap before anything else allocates.
  require('./heap.js');
  const { loadBundle } = require('./compile-cache.js') as typeof import('./compile-cache.js');
  const bundle = loadBundle<{ main: () => Promise<void> }>(path.join(__dirname, 'hostleak.cjs'), process.argv[2], process.env);
  void (bundle ? Promise.resolve(bundle.exports) : import('../main.js')).then(async ({ main }) => {
    await main();
    bundle?.save();
  });
}

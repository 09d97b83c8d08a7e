#!/usr/bin/env node
/**
 * The `hostleak` command. The build (scripts/bundle.mjs) puts the whole CLI into one script beside this file,
 * hostleak.cjs, which starts through V8's code cache (src/bin/compile-cache.ts); without it (tsc's output alone) the
 * modules load as they are.
 */
// First: it tunes the heap before anything else allocates.
import './heap.js';

// `hostleak --version` (a CI step's first call) needs neither the bundle, its loader nor the parser.
if (process.argv.length === 3 && process.argv[2] === '--version') {
  process.stdout.write(`${(await import('../paths.js')).VERSION}\n`);
} else {
  const { loadBundle } = await import('./compile-cache.js');
  const bundle = loadBundle<{ main: () => Promise<void> }>(new URL('./hostleak.cjs', import.meta.url), process.argv[2], process.env);
  await (bundle?.exports ?? (await import('./main.js'))).main();
  bundle?.save();
}

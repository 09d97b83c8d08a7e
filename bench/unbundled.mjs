// The CLI from tsc's modules, one file per module, instead of the bundled script dist/src/bin/hostleak.cjs: for
// profiles that attribute time by file (bench/profile.mjs). Same arguments as the CLI.
import '../dist/src/bin/heap.js';

const { main } = await import('../dist/src/main.js');
await main();

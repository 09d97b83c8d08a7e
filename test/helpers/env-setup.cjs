/**
 * Every test process and the hostleak processes it starts keep their state (the result cache's key) and the CLI's
 * code cache (src/bin/compile-cache.ts) inside the repository's ignored test/output/, never in the user's
 * ~/.local/state or ~/.cache.
 */
const path = require('node:path');
process.env.XDG_STATE_HOME = path.join(__dirname, '..', 'output', 'state');
process.env.HOSTLEAK_COMPILE_CACHE = path.join(__dirname, '..', 'output', 'compile-cache');

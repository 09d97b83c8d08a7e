/**
 * Every test process and the hostleak processes it starts keep their state (the result cache's key) inside the
 * repository's ignored test/output/, never in the user's ~/.local/state.
 */
const path = require('node:path');
process.env.XDG_STATE_HOME = path.join(__dirname, '..', 'output', 'state');

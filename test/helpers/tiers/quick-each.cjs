/**
 * Before each quick-tier test file: note which file this worker runs, so an appliance tool it starts (a stand-in,
 * see quick-setup.cjs) names the file in the run's failure.
 */
const { writeFileSync } = require('node:fs');
const path = require('node:path');

const dir = process.env.HOSTLEAK_QUICK_TIER;
if (dir) {
  const rel = path.relative(path.join(__dirname, '..', '..', '..'), expect.getState().testPath);
  writeFileSync(path.join(dir, `current-${process.env.JEST_WORKER_ID || '1'}`), rel);
}

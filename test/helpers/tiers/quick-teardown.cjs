/** Global tear-down of the quick tier: fails the run when a quick test started an appliance tool (quick-setup.cjs). */
const { existsSync, readFileSync } = require('node:fs');
const path = require('node:path');

module.exports = async function quickTeardown() {
  const dir = process.env.HOSTLEAK_QUICK_TIER;
  if (!dir || !existsSync(path.join(dir, 'calls.log'))) return;
  const calls = [...new Set(readFileSync(path.join(dir, 'calls.log'), 'utf8').split('\n').filter(Boolean))];
  if (calls.length) {
    throw new Error(
      `the quick tier started libguestfs tools (list these files in APPLIANCE_TESTS in jest.config.js):\n  ${calls.join('\n  ')}`,
    );
  }
};

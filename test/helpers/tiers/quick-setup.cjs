/**
 * Global set-up of the quick tier (in a whole run too). When the quick tier runs alone (`npm run test:quick`, i.e.
 * HOSTLEAK_TEST_TIER=quick: jest.config.js then holds the quick project only), every libguestfs tool on the PATH (guestfish, guestmount, virt-*) is shadowed by a stand-in
 * that records the call and fails: the quick tier never boots the appliance, and quick-teardown.cjs fails the run
 * naming the test file that tried. Jest starts its workers after this hook, so they and every process they start
 * inherit the PATH.
 */
const { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const DIR = path.join(__dirname, '..', '..', 'output', 'quick-tier');
const BIN = path.join(DIR, 'bin');

/** The appliance tools: the ones every libguestfs install has, and whatever else of the family this PATH holds. */
function applianceTools(PATH) {
  const names = new Set(['guestfish', 'guestmount', 'libguestfs-test-tool', 'virt-cat', 'virt-filesystems', 'virt-inspector', 'virt-ls', 'virt-tar-out']);
  for (const dir of (PATH || '').split(path.delimiter)) {
    let entries = [];
    try {
      entries = readdirSync(dir);
    } catch {
      continue;
    }
    for (const e of entries) if (/^(guest(fish|mount|unmount)|libguestfs-|virt-)/.test(e)) names.add(e);
  }
  return [...names].sort();
}

const STAND_IN = `#!/bin/sh
dir=${JSON.stringify(DIR)}
test_file=$(cat "$dir/current-\${JEST_WORKER_ID:-1}" 2>/dev/null)
printf '%s\\t%s\\n' "\${test_file:-an unknown test file}" "$(basename "$0")" >>"$dir/calls.log"
echo "$(basename "$0"): the quick tier never boots the libguestfs appliance; list this test file in APPLIANCE_TESTS (jest.config.js)" >&2
exit 1
`;

/**
 * The shared built fixtures (test/helpers/fixtures.ts) not used for a week, and builds whose owner left neither a
 * complete fixture nor a lock, are removed.
 */
function pruneFixtures(days = 7) {
  const root = path.join(__dirname, '..', '..', 'output', 'fixtures');
  let entries = [];
  try {
    entries = readdirSync(root);
  } catch {
    return;
  }
  const old = Date.now() - days * 86400000;
  for (const e of entries) {
    if (e.endsWith('.lock')) continue;
    const full = path.join(root, e);
    const done = statSync(path.join(full, '.complete'), { throwIfNoEntry: false });
    if (done ? done.mtimeMs < old : !existsSync(`${full}.lock`)) rmSync(full, { recursive: true, force: true });
  }
}

module.exports = async function quickSetup() {
  pruneFixtures();
  if (process.env.HOSTLEAK_TEST_TIER !== 'quick') return;
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(BIN, { recursive: true });
  for (const name of applianceTools(process.env.PATH)) {
    writeFileSync(path.join(BIN, name), STAND_IN);
    chmodSync(path.join(BIN, name), 0o755);
  }
  writeFileSync(path.join(DIR, 'calls.log'), '');
  process.env.PATH = `${BIN}${path.delimiter}${process.env.PATH}`;
  process.env.HOSTLEAK_QUICK_TIER = DIR;
};

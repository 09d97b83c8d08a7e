/**
 * Jest runs the TypeScript sources as ESM through ts-jest (transpile only; `npm run build` type-checks).
 *
 * Two tiers, as jest projects: `appliance` is the list below (every file that boots the libguestfs appliance through
 * the guestfs backend, guestfish or a virt-* tool) and `quick` is every other test file, so a new file lands in the
 * quick tier and cannot be dropped by either. `npm run test:quick` runs the quick tier alone with the appliance
 * tools shadowed (test/helpers/tiers/quick-setup.cjs): a quick test that starts one fails the run.
 * test/structure/tiers.test.ts checks the partition.
 */
export const APPLIANCE_TESTS = [
  'test/backends/btrfs-subvolumes.e2e.test.ts',
  'test/backends/differential.e2e.test.ts',
  'test/backends/guestfs.e2e.test.ts',
  'test/backends/native/btrfs.e2e.test.ts',
  'test/backends/native/lvm.e2e.test.ts',
  'test/backends/native/refusal.e2e.test.ts',
  'test/backends/native/xfs.e2e.test.ts',
  'test/commands/inspect-images.e2e.test.ts',
  'test/corpus.e2e.test.ts',
  'test/engine/runtime/unread.e2e.test.ts',
  'test/hostile/bombs.e2e.test.ts',
  'test/hostile/descriptors.e2e.test.ts',
  'test/hostile/guestfs-reason.e2e.test.ts',
];

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const appliancePatterns = APPLIANCE_TESTS.map((f) => `<rootDir>/${escape(f)}$`);

const common = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.test.json' }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // Tests never write the user's state directory (the cache key): it goes to test/output/state.
  setupFiles: ['<rootDir>/test/helpers/env-setup.cjs'],
  // Root trees the benches build (bench/out/accuracy: whole Debian roots with node packages) and the shared built
  // fixtures (test/output/fixtures: trees, images, the installed package) are not modules of ours.
  modulePathIgnorePatterns: ['<rootDir>/bench/out/', '<rootDir>/test/output/'],
};

export const quick = {
  ...common,
  displayName: 'quick',
  testPathIgnorePatterns: ['/node_modules/', ...appliancePatterns],
  globalSetup: '<rootDir>/test/helpers/tiers/quick-setup.cjs',
  globalTeardown: '<rootDir>/test/helpers/tiers/quick-teardown.cjs',
  setupFilesAfterEnv: ['<rootDir>/test/helpers/tiers/quick-each.cjs'],
};

export const appliance = { ...common, displayName: 'appliance', testMatch: APPLIANCE_TESTS.map((f) => `<rootDir>/${f}`) };

export default {
  // HOSTLEAK_TEST_TIER=quick (`npm run test:quick`): the quick tier alone, with the appliance tools shadowed.
  projects: process.env.HOSTLEAK_TEST_TIER === 'quick' ? [quick] : [quick, appliance],
  // A skipped test fails the run on every machine (the README's set-up installs everything the tests need).
  reporters: ['default', '<rootDir>/test/helpers/no-skips-reporter.cjs'],
  // Appliance tests boot qemu under TCG (~10-30 s each); a hung one is still cut by the CLI's own --timeout.
  testTimeout: 600000,
};

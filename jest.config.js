/** Jest runs the TypeScript sources as ESM through ts-jest (transpile only; `npm run build` type-checks). */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.test.json' }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // A skipped test fails the run on every machine (the README's set-up installs everything the tests need).
  reporters: ['default', '<rootDir>/test/helpers/no-skips-reporter.cjs'],
  // Tests never write the user's state directory (the cache key): it goes to test/output/state.
  setupFiles: ['<rootDir>/test/helpers/env-setup.cjs'],
  // Appliance tests boot qemu under TCG (~10-30 s each); a hung one is still cut by the CLI's own --timeout.
  testTimeout: 600000,
};

// One runner for the whole workspace. TypeScript is compiled by SWC (type
// checking is `pnpm typecheck`'s job), tests run against real Redis/Postgres.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/packages', '<rootDir>/services', '<rootDir>/tests'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  globalSetup: '<rootDir>/packages/testkit/src/jest-global-setup.ts',
  globalTeardown: '<rootDir>/packages/testkit/src/jest-global-teardown.ts',
  testTimeout: 30000,
  maxWorkers: 2,
  // JEST_JSON_OUTPUT=<file> makes any run (`pnpm test` too) also write its totals there.
  reporters: ['default', '<rootDir>/tests/reporters/json-summary.cjs'],
};

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // The slow HA suite runs on its own: `npm run test:ha` (jest.ha.config.js).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/ha/'],
  // cel-js is ESM-only: let swc compile it to CommonJS along with our sources.
  // wasmoon loads node:module with import(), which Jest's module sandbox cannot run: compiled too.
  transform: { '^.+\\.(t|j)s$': ['@swc/jest'] },
  transformIgnorePatterns: ['/node_modules/(?!(@marcbachmann/cel-js|wasmoon)/)'],
  testTimeout: 30000,
  // Tests spawn servers and child processes: two at a time suits a 2-core machine.
  maxWorkers: 2,
};

// The slow HA suite (`npm run test:ha`): real Sentinel failovers, a Redis Cluster, TLS and ACLs,
// rolling restarts behind HAProxy. Kept out of `npm test` for its run time; CI runs both.
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  roots: ['<rootDir>/test/ha'],
  testPathIgnorePatterns: ['/node_modules/'],
  testTimeout: 120000,
};

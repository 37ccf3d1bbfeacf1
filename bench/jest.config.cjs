// `npm run bench:dashboard`: the e2e project's setup (a fresh database and Redis prefix), with bench files only.
const { resolve } = require('node:path');
const base = require('../jest.config.cjs');
const e2e = base.projects.find((p) => p.displayName === 'e2e');

module.exports = {
  ...e2e,
  displayName: 'bench',
  rootDir: resolve(__dirname, '..'),
  testMatch: ['<rootDir>/bench/**/*.bench.ts'],
};

// One config for unit tests (beside the code) and end-to-end tests (test/). @swc/jest compiles the ESM-only
// @nestjs/* packages to CommonJS, which Jest needs on Node < 24.9 (see README, "Why @swc/jest").
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      keepClassNames: true,
    },
    module: { type: 'commonjs' },
  },
];

const common = {
  testEnvironment: 'node',
  moduleFileExtensions: ['js', 'mjs', 'json', 'ts'],
  transform: { '^.+\\.(t|j|mj)s$': swc },
  transformIgnorePatterns: [
    '/node_modules/(?!(@nestjs|file-type|uint8array-extras|strtok3|token-types|@tokenizer|@borewit|uuid|msgpackr|jose)/)',
  ],
  moduleNameMapper: {
    '^@demo/sagas$': '<rootDir>/sagas/index.ts',
    '^@saga-engine/(core|sdk|nestjs|client|testing|cli)$': '<rootDir>/libs/$1/src',
    '^@saga-engine/client/nestjs$': '<rootDir>/libs/client/src/nestjs',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
};

module.exports = {
  // The default output, then a list of the skipped tests and why (test/support/skip.ts): none skips in silence.
  reporters: ['default', '<rootDir>/test/support/skip-reporter.cjs'],
  projects: [
    {
      ...common,
      displayName: 'unit',
      rootDir: __dirname,
      testMatch: ['<rootDir>/{apps,libs,sagas,scripts}/**/*.spec.ts'],
    },
    {
      ...common,
      displayName: 'e2e',
      rootDir: __dirname,
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/global-setup.ts',
      globalTeardown: '<rootDir>/test/global-teardown.ts',
      setupFiles: ['<rootDir>/test/setup-env.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/setup-timeout.ts'],
    },
  ],
};

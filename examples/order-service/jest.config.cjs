// NestJS 12 ships ESM-only packages; on Node < 24.9 Jest loads them once @swc/jest has compiled them to CommonJS.
module.exports = {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.spec.ts'],
  transform: {
    '^.+\\.(t|j|mj)s$': [
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
    ],
  },
  transformIgnorePatterns: [
    // jose: the engine's OIDC token verifier (loaded only when api.oidc is configured).
    '/node_modules/(?!(@nestjs|file-type|uint8array-extras|strtok3|token-types|@tokenizer|@borewit|uuid|msgpackr|jose)/)',
  ],
  testTimeout: 60_000,
};

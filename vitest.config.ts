/**
 * Three projects:
 * - unit: pure logic, in parallel;
 * - integration: real Postgres primary + replica and Redis, found by libs/testing's global setup (testcontainers
 *   when a Docker engine answers, else the TEST_* variables). Its files run one at a time: some of them stop the
 *   replica's replay or cut a connection, which must not surprise a neighbour;
 * - compose: compose mode on a Docker engine (`docker compose up --build --wait` and what an operator does to it).
 *   `pnpm test` runs it after the others, alone: it publishes compose mode's ports and uses the whole machine.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['libs/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'local/test/**/*.test.ts', 'deploy/test/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/*.compose.test.ts', '**/node_modules/**'],
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
      {
        test: {
          name: 'compose',
          include: ['local/test/**/*.compose.test.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 240_000,
        },
      },
    ],
  },
});

/**
 * `pnpm start` as a newcomer runs it: a real process, the edge on its port, the HTTP contract through the
 * edge, and the whole order pipeline (checkout → intake → fulfillment saga → SHIPPED or REJECTED → notifications in
 * the local sink → the live status stream), with embedded defaults (PGlite, in-process cache) or with real
 * infrastructure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createScratchDatabase, freePort, startProcess, type RunningProcess } from '@securecart/testing';
import { exerciseCatalogThroughTheEdge, exerciseCheckoutThroughTheEdge, exercisePipelineThroughTheEdge } from './through-the-edge.ts';

const infra = inject('infra');
const script = fileURLToPath(new URL('../src/embedded.ts', import.meta.url));
const cwd = fileURLToPath(new URL('../..', import.meta.url));
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
});

async function start(env: Record<string, string> = {}): Promise<{ proc: RunningProcess; base: string; dataDir: string }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'securecart-embedded-'));
  const port = await freePort();
  const ports = { CATALOG_PORT: await freePort(), CHECKOUT_PORT: await freePort(), ORDERS_PORT: await freePort(), FAUXQS_PORT: await freePort() };
  const proc = startProcess(script, { PORT: String(port), ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])), DATA_DIR: dataDir, ...env }, cwd);
  cleanups.push(() => {
    proc.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  await proc.waitForOutput(/SecureCart is running/, 60_000);
  return { proc, base: `http://127.0.0.1:${port}`, dataDir };
}

describe('embedded mode', () => {
  it('runs with embedded defaults (PGlite, in-process cache) and serves the catalog contract through the edge', async () => {
    const { proc, base, dataDir } = await start();
    expect(proc.output()).toMatch(/database\s+PGlite/);
    expect(proc.output()).toMatch(/cache\s+in-process/);
    expect(proc.output()).toMatch(/messaging\s+fauxqs in-process/);
    expect(proc.output()).toMatch(/seeded 240 products/);
    await exerciseCatalogThroughTheEdge(base);
    await exerciseCheckoutThroughTheEdge(base);
    await exercisePipelineThroughTheEdge(base, path.join(dataDir, 'notifications'));
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  });

  it('uses Postgres, the replica and Redis when they are configured', async () => {
    // an empty database of its own, so that this first start migrates and seeds it
    const scratch = await createScratchDatabase(infra, 'embedded');
    cleanups.push(() => scratch.drop());
    const { proc, base, dataDir } = await start({
      DATABASE_URL: scratch.databaseUrl,
      DATABASE_READ_URL: scratch.databaseReadUrl,
      REDIS_URL: infra.redisUrl,
      CACHE_NAMESPACE: `${infra.namespace}:embedded`,
    });
    expect(proc.output()).toMatch(/database\s+Postgres .* \+ replica/);
    expect(proc.output()).toMatch(/cache\s+Redis/);
    expect(proc.output()).toMatch(/seeded 240 products/);
    await exerciseCatalogThroughTheEdge(base);
    await exerciseCheckoutThroughTheEdge(base);
    await exercisePipelineThroughTheEdge(base, path.join(dataDir, 'notifications'), { oversell: true });
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  });

  it('refuses to start the development identity provider with NODE_ENV=production', async () => {
    const proc = startProcess(script, { PORT: String(await freePort()), NODE_ENV: 'production', DATA_DIR: mkdtempSync(path.join(tmpdir(), 'sc-')) }, cwd);
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain('refuses to start with NODE_ENV=production');
  });
});

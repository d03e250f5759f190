/**
 * `pnpm start` as a newcomer runs it: a real process, the edge on its port, the contract of DESIGN §4 for the
 * catalog through the edge, with embedded defaults (PGlite, in-process cache) or with real infrastructure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createScratchDatabase, freePort, startProcess, waitFor, type RunningProcess } from '@securecart/testing';

const infra = inject('infra');
const script = fileURLToPath(new URL('../src/embedded.ts', import.meta.url));
const cwd = fileURLToPath(new URL('../..', import.meta.url));
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
});

async function start(env: Record<string, string> = {}): Promise<{ proc: RunningProcess; base: string }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'securecart-embedded-'));
  const port = await freePort();
  const ports = { CATALOG_PORT: await freePort(), CHECKOUT_PORT: await freePort(), ORDERS_PORT: await freePort(), FAUXQS_PORT: await freePort() };
  const proc = startProcess(script, { PORT: String(port), ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])), DATA_DIR: dataDir, ...env }, cwd);
  cleanups.push(() => {
    proc.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  await proc.waitForOutput(/SecureCart is running/, 60_000);
  return { proc, base: `http://127.0.0.1:${port}` };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function json(res: Response): Promise<{ status: number; headers: Headers; body: any }> {
  return { status: res.status, headers: res.headers, body: res.status === 204 || res.status === 304 ? null : await res.json() };
}

async function exerciseCatalogThroughTheEdge(base: string) {
  const list = await json(await fetch(`${base}/api/catalog/products?limit=5`));
  expect(list.status).toBe(200);
  expect(list.body.items).toHaveLength(5);
  expect(list.body.nextCursor).toEqual(expect.any(String));
  const categories = await json(await fetch(`${base}/api/catalog/categories`));
  expect(categories.body.items.length).toBeGreaterThanOrEqual(8);

  const slug = list.body.items[0].slug;
  const product = await json(await fetch(`${base}/api/catalog/products/${slug}`));
  expect(product.status).toBe(200);
  const etag = product.headers.get('etag')!;
  expect((await fetch(`${base}/api/catalog/products/${slug}`, { headers: { 'if-none-match': etag } })).status).toBe(304);

  const minted = await json(
    await fetch(`${base}/api/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sub: 'alice', groups: ['admin'] }) }),
  );
  expect(minted.status).toBe(200);
  expect(minted.body.expiresIn).toBeGreaterThan(0);
  const auth = { authorization: `Bearer ${minted.body.accessToken}`, 'content-type': 'application/json' };
  const n = Date.now().toString(36);
  const created = await json(
    await fetch(`${base}/api/catalog/products`, {
      method: 'POST', headers: auth, body: JSON.stringify({ sku: `E-${n}`, slug: `edge-${n}`, name: `Edge ${n}`, priceCents: 500, category: 'misc', stock: 3 }),
    }),
  );
  expect(created.status).toBe(201);
  expect(created.headers.get('location')).toBe(`/api/catalog/products/${created.body.id}`);
  const id = created.body.id;
  expect((await json(await fetch(`${base}${created.headers.get('location')}`))).body.name).toBe(`Edge ${n}`);
  expect((await fetch(`${base}/api/catalog/products/${id}`, { method: 'PATCH', headers: auth, body: JSON.stringify({ priceCents: 650 }) })).status).toBe(200);
  expect((await fetch(`${base}/api/catalog/products/${id}/stock`, { method: 'PUT', headers: auth, body: JSON.stringify({ stock: 9 }) })).status).toBe(200);
  const after = await json(await fetch(`${base}/api/catalog/products/${id}`));
  expect(after.body).toMatchObject({ priceCents: 650, stock: 9 });
  expect((await fetch(`${base}/api/catalog/products/${id}`, { method: 'DELETE', headers: auth })).status).toBe(204);
  expect((await fetch(`${base}/api/catalog/products/${id}`)).status).toBe(404);

  // a customer is not an admin; no token is not a customer
  const customer = (await json(await fetch(`${base}/api/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sub: 'bob' }) }))).body.accessToken;
  expect((await fetch(`${base}/api/catalog/products`, { method: 'POST', headers: { ...auth, authorization: `Bearer ${customer}` }, body: '{}' })).status).toBe(403);
  expect((await fetch(`${base}/api/catalog/products`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(401);

  // internal routes are never routed by the edge
  const internal = await fetch(`${base}/internal/products/lookup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ids: [id] }) });
  expect(internal.status).toBe(404);
  expect(internal.headers.get('content-type')).toContain('application/problem+json');
  // every rule of the edge now has its service: orders answers (401: it needs a customer)
  expect((await fetch(`${base}/api/orders`)).status).toBe(401);
}

async function exerciseCheckoutThroughTheEdge(base: string) {
  const token = (await json(await fetch(`${base}/api/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sub: `carol-${Date.now()}`, email: 'carol@example.com' }) }))).body.accessToken;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const [first, second] = (await json(await fetch(`${base}/api/catalog/products?limit=2`))).body.items;
  expect((await fetch(`${base}/api/cart/items/${first.id}`, { method: 'PUT', headers, body: JSON.stringify({ quantity: 2 }) })).status).toBe(200);
  const cart = await json(await fetch(`${base}/api/cart/items/${second.id}`, { method: 'PUT', headers, body: JSON.stringify({ quantity: 1 }) }));
  expect(cart.status).toBe(200);
  expect(cart.body.subtotalCents).toBe(2 * first.priceCents + second.priceCents);
  const checkout = await json(await fetch(`${base}/api/checkout`, {
    method: 'POST',
    headers: { ...headers, 'idempotency-key': 'embedded-1' },
    body: JSON.stringify({ shippingAddress: { name: 'Carol', line1: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'US' }, paymentToken: 'tok_approve', contact: {} }),
  }));
  expect(checkout.status).toBe(202);
  expect(checkout.body).toMatchObject({ status: 'PENDING', statusUrl: `/api/orders/${checkout.body.orderId}` });
  expect((await json(await fetch(`${base}/api/cart`, { headers }))).body.items).toEqual([]);

  // the order appears, PLACED, once the orders-worker has taken it from the queue
  const order = await waitFor(async () => {
    const res = await json(await fetch(`${base}${checkout.body.statusUrl}`, { headers }));
    return res.status === 200 && res.body;
  }, { timeoutMs: 15_000, what: 'the order to be placed' });
  expect(order).toMatchObject({ id: checkout.body.orderId, status: 'PLACED', totalCents: 2 * first.priceCents + second.priceCents });
  const mine = await json(await fetch(`${base}/api/orders`, { headers }));
  expect(mine.body.items.map((o: { id: string }) => o.id)).toEqual([checkout.body.orderId]);
  const cancelled = await json(await fetch(`${base}/api/orders/${checkout.body.orderId}/cancel`, { method: 'POST', headers }));
  expect(cancelled.status).toBe(200);
  expect(cancelled.body.status).toBe('CANCELLED');

  // the same checkout sent 20 times at once: one order
  await fetch(`${base}/api/cart/items/${first.id}`, { method: 'PUT', headers, body: JSON.stringify({ quantity: 1 }) });
  const copies = await Promise.all(Array.from({ length: 20 }, () => fetch(`${base}/api/checkout`, {
    method: 'POST',
    headers: { ...headers, 'idempotency-key': 'embedded-flash' },
    body: JSON.stringify({ shippingAddress: { name: 'Carol', line1: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'US' }, paymentToken: 'tok_approve', contact: {} }),
  }).then(json)));
  expect(copies.map((c) => c.status)).toEqual(Array(20).fill(202));
  const flashId = copies[0]!.body.orderId;
  expect(new Set(copies.map((c) => c.body.orderId))).toEqual(new Set([flashId]));
  await waitFor(async () => (await fetch(`${base}/api/orders/${flashId}`, { headers })).status === 200, { timeoutMs: 15_000, what: 'the flash order' });
  const all = (await json(await fetch(`${base}/api/orders`, { headers }))).body.items.map((o: { id: string }) => o.id);
  expect(all.sort()).toEqual([checkout.body.orderId, flashId].sort());
}

describe('embedded mode', () => {
  it('runs with embedded defaults (PGlite, in-process cache) and serves the catalog contract through the edge', async () => {
    const { proc, base } = await start();
    expect(proc.output()).toMatch(/database\s+PGlite/);
    expect(proc.output()).toMatch(/cache\s+in-process/);
    expect(proc.output()).toMatch(/messaging\s+fauxqs in-process/);
    expect(proc.output()).toMatch(/seeded 240 products/);
    await exerciseCatalogThroughTheEdge(base);
    await exerciseCheckoutThroughTheEdge(base);
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  });

  it('uses Postgres, the replica and Redis when they are configured', async () => {
    // an empty database of its own, so that this first start migrates and seeds it
    const scratch = await createScratchDatabase(infra, 'embedded');
    cleanups.push(() => scratch.drop());
    const { proc, base } = await start({
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
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  });

  it('refuses to start the development identity provider with NODE_ENV=production', async () => {
    const proc = startProcess(script, { PORT: String(await freePort()), NODE_ENV: 'production', DATA_DIR: mkdtempSync(path.join(tmpdir(), 'sc-')) }, cwd);
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain('refuses to start with NODE_ENV=production');
  });
});

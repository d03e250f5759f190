/**
 * The catalog on real infrastructure under stress: where reads go (replica, primary), what happens when the
 * replica lags or disappears, when Redis or the primary goes away, and how writes reach every instance's cache.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestIdentityProvider, TcpProxy, waitFor, type TestIdentityProvider } from '@securecart/testing';
import { buildTestCatalog, migrateCatalog, newProduct, type TestCatalog, type TestCatalogOptions } from './harness.ts';

const infra = inject('infra');
let idp: TestIdentityProvider;
let admin: string;
const opened: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  idp = await startTestIdentityProvider();
  await migrateCatalog(infra);
  admin = `Bearer ${await idp.token('admin-1', { admin: true })}`;
});
afterAll(async () => {
  for (const thing of opened.reverse()) await thing.close();
  await idp?.close();
});

async function catalogWith(options: TestCatalogOptions = {}): Promise<TestCatalog> {
  const catalog = await buildTestCatalog(infra, idp, options);
  opened.push(catalog);
  return catalog;
}

async function proxyFor(url: string): Promise<TcpProxy> {
  const proxy = await TcpProxy.forUrl(url).start();
  opened.push({ close: () => proxy.stop() });
  return proxy;
}

async function create(catalog: TestCatalog, body: Record<string, unknown> = newProduct()) {
  const res = await catalog.app.inject({ method: 'POST', url: '/api/catalog/products', headers: { authorization: admin }, payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ id: string; slug: string; name: string }>();
}

/** Runs `body` while the replica has stopped replaying WAL: it receives, but applies nothing. */
async function withReplayPaused(body: () => Promise<void>) {
  const replica = new pg.Client({ connectionString: infra.databaseReadUrl });
  await replica.connect();
  try {
    await replica.query('select pg_wal_replay_pause()');
    await body();
  } finally {
    await replica.query('select pg_wal_replay_resume()');
    await replica.end();
  }
}

describe('read routing', () => {
  it('serves list reads from the replica', async () => {
    // freshWindowMs 0: no read-from-primary grace after the write below, so the list goes where the router says
    const catalog = await catalogWith({ freshWindowMs: 0 });
    const category = `replica-${Date.now().toString(36)}`;
    await create(catalog, newProduct({ category }));
    await waitFor(() => catalog.router.replicaState.healthy, { what: 'a healthy replica' });
    const before = { ...catalog.router.stats };
    const res = await waitFor(async () => {
      const r = await catalog.app.inject({ url: `/api/catalog/products?category=${category}&limit=7` });
      return r.json().items.length === 1 && r;
    }, { what: 'the product on the replica' });
    expect(res.statusCode).toBe(200);
    expect(catalog.router.stats.replicaReads).toBeGreaterThan(before.replicaReads);
    // and the connection that served it is the replica's: a server in recovery, named catalog-replica
    const replica = new pg.Client({ connectionString: infra.databaseReadUrl });
    await replica.connect();
    try {
      const { rows } = await replica.query(
        "select count(*)::int as n, pg_is_in_recovery() as standby from pg_stat_activity where application_name = 'catalog-replica' and datname = current_database()",
      );
      expect(rows[0]).toEqual({ n: expect.any(Number), standby: true });
      expect(rows[0].n).toBeGreaterThan(0);
    } finally {
      await replica.end();
    }
  });

  it('finds a product created a moment ago through the primary when the replica does not have it yet', async () => {
    // a generous lag bound keeps the router on the replica while replay is paused
    const catalog = await catalogWith({ maxLagMs: 60_000, freshWindowMs: 0 });
    await waitFor(() => catalog.router.replicaState.healthy, { what: 'a healthy replica' });
    await withReplayPaused(async () => {
      const product = await create(catalog);
      const before = catalog.router.stats.missRetries;
      const res = await catalog.app.inject({ url: `/api/catalog/products/${product.id}` });
      expect(res.statusCode).toBe(200);
      expect(res.json().id).toBe(product.id);
      expect(catalog.router.stats.missRetries).toBe(before + 1);
    });
  });

  it('reads from the primary while the replica lags beyond the bound, and returns to it after', async () => {
    const catalog = await catalogWith({ maxLagMs: 300 });
    await waitFor(() => catalog.router.replicaState.healthy, { what: 'a healthy replica' });
    await withReplayPaused(async () => {
      await create(catalog); // a write the replica receives but does not apply
      await waitFor(() => !catalog.router.replicaState.healthy, { what: 'the router to see the lag' });
      expect(catalog.router.replicaState.reason).toMatch(/lagging/);
      const before = { ...catalog.router.stats };
      const res = await catalog.app.inject({ url: `/api/catalog/products?q=lagging${Date.now()}` });
      expect(res.statusCode).toBe(200);
      expect(catalog.router.stats.primaryReads).toBe(before.primaryReads + 1);
      expect(catalog.router.stats.replicaReads).toBe(before.replicaReads);
    });
    await waitFor(() => catalog.router.replicaState.healthy, { what: 'the replica to catch up' });
  });

  it('keeps answering reads when the replica goes away mid-test, from the primary', async () => {
    const proxy = await proxyFor(infra.databaseReadUrl);
    const catalog = await catalogWith({ databaseReadUrl: proxy.rewrite(infra.databaseReadUrl), freshWindowMs: 0 });
    await waitFor(() => catalog.router.replicaState.healthy, { what: 'a healthy replica' });
    const category = `replica-gone-${Date.now().toString(36)}`;
    const product = await create(catalog, newProduct({ category }));
    const url = (i: number) => `/api/catalog/products?category=${category}&limit=${i}`;
    expect((await catalog.app.inject({ url: url(1) })).statusCode).toBe(200);

    proxy.sever();
    const before = catalog.router.stats.primaryReads;
    for (let i = 2; i < 12; i++) {
      const res = await catalog.app.inject({ url: url(i) });
      expect(res.statusCode).toBe(200);
      expect(res.json().items.map((p: { id: string }) => p.id)).toEqual([product.id]);
    }
    expect(catalog.router.stats.primaryReads).toBeGreaterThanOrEqual(before + 10);
    expect(catalog.router.replicaState.healthy).toBe(false);

    proxy.restore();
    await waitFor(() => catalog.router.replicaState.healthy, { what: 'the replica to come back' });
  });
});

describe('cache', () => {
  it('carries an admin write to a second instance sharing Redis, well within the hot-tier bound', async () => {
    const a = await catalogWith({ hotTtlMs: 5_000 });
    const b = await catalogWith({ hotTtlMs: 5_000 });
    const product = await create(a);
    const url = `/api/catalog/products/${product.id}`;
    await waitFor(async () => (await b.app.inject({ url })).statusCode === 200, { what: 'b to see the product' });
    expect((await b.app.inject({ url })).json().name).toBe(product.name); // b's hot tier now holds it

    const written = Date.now();
    await a.app.inject({ method: 'PATCH', url, headers: { authorization: admin }, payload: { name: 'Seen everywhere' } });
    await waitFor(async () => (await b.app.inject({ url })).json().name === 'Seen everywhere', { timeoutMs: 5_000, intervalMs: 5, what: 'b to see the write' });
    const elapsed = Date.now() - written;
    // pub/sub moves b on long before its 5 s hot tier would have expired
    expect(elapsed).toBeLessThan(1_000);
  });

  it('collapses a stampede of concurrent misses into one load', async () => {
    const catalog = await catalogWith();
    const product = await create(catalog);
    const before = catalog.cache.stats.loads;
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => catalog.app.inject({ url: `/api/catalog/products/${product.slug}` })),
    );
    expect(responses.every((r) => r.statusCode === 200)).toBe(true);
    expect(catalog.cache.stats.loads - before).toBe(1);
  });

  it('serves reads from SQL, without errors, when Redis goes away; and rate limiting fails open', async () => {
    const proxy = await proxyFor(infra.redisUrl);
    const catalog = await catalogWith({ redisUrl: proxy.rewrite(infra.redisUrl), rateLimit: { max: 1000, windowMs: 60_000 } });
    const product = await create(catalog);
    proxy.sever();
    const loadsBefore = catalog.cache.stats.loads;
    for (let i = 0; i < 5; i++) {
      const one = await catalog.app.inject({ url: `/api/catalog/products/${product.id}?n=${i}` });
      expect(one.statusCode).toBe(200);
      const list = await catalog.app.inject({ url: `/api/catalog/products?limit=${i + 1}` });
      expect(list.statusCode).toBe(200);
    }
    expect(catalog.cache.stats.storeErrors).toBeGreaterThan(0);
    expect(catalog.cache.stats.loads).toBeGreaterThan(loadsBefore);
    proxy.restore();
  });
});

describe('primary down', () => {
  it('answers writes with 503 and Retry-After, fails readiness, and keeps serving reads from the replica', async () => {
    const proxy = await proxyFor(infra.databaseUrl);
    const catalog = await catalogWith({ databaseUrl: proxy.rewrite(infra.databaseUrl) });
    const category = `primary-down-${Date.now().toString(36)}`;
    const product = await create(catalog, newProduct({ category }));
    await waitFor(async () => (await catalog.app.inject({ url: `/api/catalog/products/${product.id}` })).statusCode === 200);
    await waitFor(() => catalog.router.replicaState.healthy, { what: 'a healthy replica' });

    proxy.sever();
    const write = await catalog.app.inject({ method: 'POST', url: '/api/catalog/products', headers: { authorization: admin }, payload: newProduct() });
    expect(write.statusCode).toBe(503);
    expect(write.headers['retry-after']).toBeDefined();
    expect(write.json().type).toBe('https://securecart.dev/problems/unavailable');
    const ready = await catalog.app.inject({ url: '/health/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks.primary).toMatch(/failing/);
    const list = await catalog.app.inject({ url: `/api/catalog/products?limit=3&category=${category}` });
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((p: { id: string }) => p.id)).toEqual([product.id]);
    // More failed writes than the pool has connections: none of them may keep a connection.
    for (let i = 0; i < 12; i++) {
      const again = await catalog.app.inject({ method: 'POST', url: '/api/catalog/products', headers: { authorization: admin }, payload: newProduct({ category }) });
      expect(again.statusCode).toBe(503);
    }
    proxy.restore();
    await waitFor(async () => (await catalog.app.inject({ url: '/health/ready' })).statusCode === 200, { what: 'readiness to return' });
    // and writes work again: nothing was lost to the outage
    await create(catalog, newProduct({ category }));
  });
});

describe('rate limits', () => {
  it('answers 429 with Retry-After once a client exceeds its limit, counted across instances', async () => {
    const namespace = `${infra.namespace}:rl-${Date.now()}`;
    const a = await catalogWith({ namespace, rateLimit: { max: 3, windowMs: 60_000 } });
    const b = await catalogWith({ namespace, rateLimit: { max: 3, windowMs: 60_000 } });
    const headers = { 'x-forwarded-for': '203.0.113.7' };
    expect((await a.app.inject({ url: '/api/catalog/categories', headers })).statusCode).toBe(200);
    expect((await b.app.inject({ url: '/api/catalog/categories', headers })).statusCode).toBe(200);
    expect((await a.app.inject({ url: '/api/catalog/categories', headers })).statusCode).toBe(200);
    const limited = await b.app.inject({ url: '/api/catalog/categories', headers });
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.json()).toMatchObject({ status: 429, type: 'https://securecart.dev/problems/rate-limited' });
    // another client is not affected
    expect((await b.app.inject({ url: '/api/catalog/categories', headers: { 'x-forwarded-for': '203.0.113.8' } })).statusCode).toBe(200);
  });

  it('cannot be dodged by a client writing its own X-Forwarded-For: the address the proxy appended counts', async () => {
    const namespace = `${infra.namespace}:rlx-${Date.now()}`;
    const catalog = await catalogWith({ namespace, rateLimit: { max: 2, windowMs: 60_000 } });
    const statuses = [];
    for (const madeUp of ['1.1.1.1', '2.2.2.2', '3.3.3.3']) {
      // as the ALB forwards it: the client's own header, then the address the ALB saw
      const headers = { 'x-forwarded-for': `${madeUp}, 203.0.113.50` };
      statuses.push((await catalog.app.inject({ url: '/api/catalog/categories', remoteAddress: '10.0.1.9', headers })).statusCode);
    }
    expect(statuses).toEqual([200, 200, 429]);
  });

  it('limits a customer by their token, whatever address they come from', async () => {
    const namespace = `${infra.namespace}:rlc-${Date.now()}`;
    const catalog = await catalogWith({ namespace, rateLimit: { max: 2, windowMs: 60_000 } });
    const token = `Bearer ${await idp.token(`customer-${Date.now()}`)}`;
    const statuses = [];
    for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
      statuses.push((await catalog.app.inject({ url: '/api/catalog/categories', headers: { authorization: token, 'x-forwarded-for': ip } })).statusCode);
    }
    expect(statuses).toEqual([200, 200, 429]);
  });
});

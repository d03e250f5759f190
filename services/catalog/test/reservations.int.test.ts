import { randomUUID } from 'node:crypto';
import { drizzle } from 'drizzle-orm/node-postgres';
import { startFauxqs } from 'fauxqs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  bootstrapTopology, createAwsClients, destroyAwsClients, drainQueue, OutboxRelay, SnsPublisher, TOPOLOGY, type QueueName, type Topology,
} from '@securecart/messaging';
import { startTestIdentityProvider, waitFor, type TestIdentityProvider } from '@securecart/testing';
import { CATALOG_SCHEMA } from '../src/db/schema.ts';
import { buildTestCatalog, migrateCatalog, newProduct, type TestCatalog } from './harness.ts';

const infra = inject('infra');
let idp: TestIdentityProvider;
let catalog: TestCatalog;
let sql: pg.Pool;
let admin: string;

beforeAll(async () => {
  idp = await startTestIdentityProvider();
  await migrateCatalog(infra);
  catalog = await buildTestCatalog(infra, idp);
  sql = new pg.Pool({ connectionString: infra.databaseUrl, max: 4 });
  admin = `Bearer ${await idp.token('admin-1', { admin: true })}`;
});
afterAll(async () => {
  await catalog?.close();
  await sql?.end();
  await idp?.close();
});

async function product(stock: number, overrides: Record<string, unknown> = {}) {
  const res = await catalog.app.inject({
    method: 'POST', url: '/api/catalog/products', headers: { authorization: admin }, payload: newProduct({ stock, ...overrides }),
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ id: string; sku: string }>().id;
}

const stockOf = async (id: string) => (await sql.query('select stock from catalog.products where id = $1', [id])).rows[0].stock as number;
const reserve = (orderId: string, lines: { productId: string; quantity: number }[]) =>
  catalog.app.inject({ method: 'POST', url: '/internal/reservations', payload: { orderId, lines } });
const post = (url: string) => catalog.app.inject({ method: 'POST', url });
const stockEvents = async (productId: string) =>
  (
    await sql.query(
      `select envelope->'data' as data from catalog.outbox where type = 'com.securecart.stock.changed' and subject = $1 order by created_at, id`,
      [productId],
    )
  ).rows.map((r: { data: { stock: number; reason: string } }) => r.data);

describe('reserving stock', () => {
  it('takes every line of an order and writes stock.changed for each product', async () => {
    const [a, b] = [await product(5), await product(3)];
    const orderId = randomUUID();
    const res = await reserve(orderId, [{ productId: a, quantity: 2 }, { productId: b, quantity: 3 }]);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ orderId, status: 'RESERVED' });
    expect([await stockOf(a), await stockOf(b)]).toEqual([3, 0]);
    expect(await stockEvents(a)).toEqual([{ productId: a, stock: 3, reason: 'reserved' }]);
    expect(await stockEvents(b)).toEqual([{ productId: b, stock: 0, reason: 'reserved' }]);
  });

  it('takes nothing more when the same order reserves again', async () => {
    const a = await product(5);
    const orderId = randomUUID();
    expect((await reserve(orderId, [{ productId: a, quantity: 2 }])).statusCode).toBe(200);
    const again = await reserve(orderId, [{ productId: a, quantity: 2 }]);
    expect(again.statusCode).toBe(200);
    expect(again.json().status).toBe('RESERVED');
    expect(await stockOf(a)).toBe(3);
    // one event, carrying the stock the statement left (an order of one product is reserved in one statement)
    expect(await stockEvents(a)).toEqual([{ productId: a, stock: 3, reason: 'reserved' }]);
  });

  it('takes nothing at all when one line is short, and says which product with 409', async () => {
    const [plenty, scarce] = [await product(10), await product(1)];
    const orderId = randomUUID();
    const res = await reserve(orderId, [{ productId: plenty, quantity: 4 }, { productId: scarce, quantity: 2 }]);
    expect(res.statusCode).toBe(409);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json().type).toBe('https://securecart.dev/problems/insufficient-stock');
    expect(res.json().detail).toMatch(/2 wanted, 1 left/);
    expect([await stockOf(plenty), await stockOf(scarce)]).toEqual([10, 1]);
    expect((await catalog.app.inject({ url: `/internal/reservations/${orderId}` })).statusCode).toBe(404);
  });

  it('refuses archived and unknown products with 409', async () => {
    const archived = await product(5);
    await catalog.app.inject({ method: 'DELETE', url: `/api/catalog/products/${archived}`, headers: { authorization: admin } });
    const gone = await reserve(randomUUID(), [{ productId: archived, quantity: 1 }]);
    expect(gone.statusCode).toBe(409);
    expect(gone.json().type).toBe('https://securecart.dev/problems/archived');
    const unknown = await reserve(randomUUID(), [{ productId: randomUUID(), quantity: 1 }]);
    expect(unknown.statusCode).toBe(409);
    expect(unknown.json().type).toBe('https://securecart.dev/problems/unknown-product');
    expect(await stockOf(archived)).toBe(5);
  });

  it('answers 400 for malformed requests and changes nothing', async () => {
    const a = await product(5);
    for (const payload of [
      { orderId: randomUUID(), lines: [{ productId: a, quantity: -1 }] },
      { orderId: randomUUID(), lines: [{ productId: a, quantity: '1' }] },
      { orderId: randomUUID(), lines: [] },
      { orderId: 'not-a-uuid', lines: [{ productId: a, quantity: 1 }] },
      { orderId: randomUUID(), lines: [{ productId: a, quantity: 1, priceCents: 1 }] },
    ]) {
      const res = await catalog.app.inject({ method: 'POST', url: '/internal/reservations', payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
    }
    expect(await stockOf(a)).toBe(5);
  });

  it('never oversells: 10 in stock, 1,000 concurrent orders of 1 → exactly 10 reserved and stock 0', async () => {
    const a = await product(10);
    const orders = Array.from({ length: 1000 }, () => randomUUID());
    let answers = await Promise.all(orders.map(async (orderId) => ({ orderId, res: await reserve(orderId, [{ productId: a, quantity: 1 }]) })));
    // With 1,000 requests queued on one product's row some wait longer than the pool's connect timeout and get 503
    // (retryable, nothing taken): the saga retries those, and so does this test, until every order has its answer.
    for (let round = 0; answers.some((x) => x.res.statusCode === 503) && round < 20; round++) {
      expect(answers.filter((x) => ![200, 409, 503].includes(x.res.statusCode))).toEqual([]);
      answers = await Promise.all(answers.map(async (x) => (x.res.statusCode === 503 ? { orderId: x.orderId, res: await reserve(x.orderId, [{ productId: a, quantity: 1 }]) } : x)));
    }
    const codes = answers.map((x) => x.res.statusCode);
    expect(codes.filter((c) => c === 200)).toHaveLength(10);
    expect(codes.filter((c) => c === 409)).toHaveLength(990);
    expect(await stockOf(a)).toBe(0);
  });

  it('reserves once when the same order arrives 20 times at once', async () => {
    const a = await product(50);
    const orderId = randomUUID();
    const results = await Promise.all(Array.from({ length: 20 }, () => reserve(orderId, [{ productId: a, quantity: 3 }])));
    expect(results.every((r) => r.statusCode === 200)).toBe(true);
    expect(await stockOf(a)).toBe(47);
  });

  it('shows the new stock on the product page at once (the cache moves on)', async () => {
    const a = await product(7);
    expect((await catalog.app.inject({ url: `/api/catalog/products/${a}` })).json().stock).toBe(7);
    await reserve(randomUUID(), [{ productId: a, quantity: 2 }]);
    await waitFor(async () => (await catalog.app.inject({ url: `/api/catalog/products/${a}` })).json().stock === 5, {
      timeoutMs: 5_000,
      what: 'the product page to show stock 5',
    });
  });
});

describe('releasing and committing', () => {
  it('puts released stock back, once, however often release is called', async () => {
    const a = await product(4);
    const orderId = randomUUID();
    await reserve(orderId, [{ productId: a, quantity: 3 }]);
    for (let i = 0; i < 3; i++) {
      const res = await post(`/internal/reservations/${orderId}/release`);
      expect(res.statusCode).toBe(200);
      expect(res.json().status).toBe('RELEASED');
    }
    expect(await stockOf(a)).toBe(4);
    expect((await stockEvents(a)).map((e) => e.reason)).toEqual(['reserved', 'released']);
  });

  it('a release before its reservation leaves a tombstone: the late reservation takes nothing', async () => {
    const a = await product(4);
    const orderId = randomUUID();
    expect((await post(`/internal/reservations/${orderId}/release`)).json().status).toBe('RELEASED');
    const late = await reserve(orderId, [{ productId: a, quantity: 1 }]);
    expect(late.statusCode).toBe(200);
    expect(late.json().status).toBe('RELEASED');
    expect(await stockOf(a)).toBe(4);
  });

  it('commits on shipment; a committed reservation cannot be released and a released one cannot be committed', async () => {
    const a = await product(4);
    const shipped = randomUUID();
    await reserve(shipped, [{ productId: a, quantity: 1 }]);
    expect((await post(`/internal/reservations/${shipped}/commit`)).json().status).toBe('COMMITTED');
    expect((await post(`/internal/reservations/${shipped}/commit`)).statusCode).toBe(200);
    const release = await post(`/internal/reservations/${shipped}/release`);
    expect(release.statusCode).toBe(409);
    expect(await stockOf(a)).toBe(3);

    const cancelled = randomUUID();
    await reserve(cancelled, [{ productId: a, quantity: 1 }]);
    await post(`/internal/reservations/${cancelled}/release`);
    expect((await post(`/internal/reservations/${cancelled}/commit`)).statusCode).toBe(409);
    expect((await post(`/internal/reservations/${randomUUID()}/commit`)).statusCode).toBe(409);
  });
});

describe('catalog-events', () => {
  it('admin writes and reservations reach the catalog-events topic through the outbox relay', async () => {
    const fauxqs = await startFauxqs({ port: 0, logger: false });
    const clients = createAwsClients({ region: 'us-east-1', endpoint: fauxqs.address });
    try {
      // A listener queue on catalog-events (nothing in SecureCart consumes it yet: analytics and search later).
      const topology: Topology = {
        ...TOPOLOGY,
        queues: {
          ...TOPOLOGY.queues,
          ['catalog-listener' as QueueName]: {
            consumer: 'test',
            subscriptions: [{ topic: 'catalog-events', events: ['product.created', 'product.updated', 'product.archived', 'stock.changed'] }],
            maxReceiveCount: 5,
            visibilityTimeoutSeconds: 30,
          },
        },
      };
      const addresses = await bootstrapTopology(clients, { prefix: `c${randomUUID().slice(0, 8)}-`, topology });
      const pool = new pg.Pool({ connectionString: infra.databaseUrl, max: 2 });
      // Earlier tests left rows; publish them too, then look for this test's product among what arrived.
      const relay = new OutboxRelay({ db: drizzle(pool), schema: CATALOG_SCHEMA, publisher: new SnsPublisher(clients), topicArns: addresses.topicArns, intervalMs: 50 });
      await relay.start();
      const a = await product(3);
      await catalog.app.inject({ method: 'PATCH', url: `/api/catalog/products/${a}`, headers: { authorization: admin }, payload: { priceCents: 2500 } });
      await reserve(randomUUID(), [{ productId: a, quantity: 1 }]);
      const seen: { type: string; data: Record<string, unknown> }[] = [];
      await waitFor(
        async () => {
          for (const message of await drainQueue(clients, addresses.queueUrls['catalog-listener' as QueueName], 200)) {
            const event = JSON.parse(message.Body!) as { type: string; subject: string; data: Record<string, unknown> };
            if (event.subject === a) seen.push(event);
          }
          return seen.length >= 3;
        },
        { timeoutMs: 10_000, what: 'three catalog events for the product' },
      );
      expect(seen.map((e) => e.type).sort()).toEqual(['com.securecart.product.created', 'com.securecart.product.updated', 'com.securecart.stock.changed']);
      expect(seen.find((e) => e.type.endsWith('product.updated'))!.data).toEqual({ productId: a, changes: ['priceCents'] });
      await relay.stop();
      await pool.end();
    } finally {
      destroyAwsClients(clients);
      await fauxqs.stop();
    }
  });
});

/**
 * Carts and checkout on real Redis, real SNS/SQS wire protocol (fauxqs) and a real catalog over HTTP.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { drainQueue } from '@securecart/messaging';
import { startTestIdentityProvider, TcpProxy, type TestIdentityProvider } from '@securecart/testing';
import { CART_TTL_SECONDS } from '../src/cart-store.ts';
import { CatalogClient } from '../src/catalog-client.ts';
import { startCheckoutWorld, type CheckoutWorld } from './harness.ts';

const infra = inject('infra');
let idp: TestIdentityProvider;
let world: CheckoutWorld;
let admin: string;

beforeAll(async () => {
  idp = await startTestIdentityProvider();
  world = await startCheckoutWorld(infra, idp);
  admin = `Bearer ${await idp.token('admin-1', { admin: true })}`;
});
afterAll(async () => {
  await world?.close();
  await idp?.close();
});

const address = { name: 'Ada Lovelace', line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };
const body = (overrides: Record<string, unknown> = {}) => ({ shippingAddress: address, paymentToken: 'tok_approve', contact: { email: 'ada@example.com' }, ...overrides });

async function product(overrides: Record<string, unknown> = {}) {
  const n = randomUUID().slice(0, 8);
  const res = await world.catalog.inject({
    method: 'POST', url: '/api/catalog/products', headers: { authorization: admin },
    payload: { sku: `CK-${n}`, slug: `checkout-${n}`, name: `Checkout thing ${n}`, priceCents: 1250, category: 'checkout-tests', stock: 50, ...overrides },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ id: string }>();
}

async function customer() {
  return { authorization: `Bearer ${await idp.token(`cust-${randomUUID()}`, { email: 'buyer@example.com' })}` };
}

async function fill(headers: Record<string, string>, lines: [string, number][]) {
  for (const [id, quantity] of lines) {
    const res = await world.checkout.inject({ method: 'PUT', url: `/api/cart/items/${id}`, headers, payload: { quantity } });
    expect(res.statusCode, res.body).toBe(200);
  }
}

const intake = () => world.addresses.queueUrls['orders-intake'];

describe('cart', () => {
  it('prices lines from catalog, never from the client, and keeps a subtotal', async () => {
    const [a, b] = [await product({ priceCents: 1000 }), await product({ priceCents: 250 })];
    const headers = await customer();
    await fill(headers, [[a.id, 2], [b.id, 3]]);
    const cart = (await world.checkout.inject({ url: '/api/cart', headers })).json();
    expect(cart.subtotalCents).toBe(2 * 1000 + 3 * 250);
    expect(cart.currency).toBe('USD');
    expect(cart.items).toHaveLength(2);
    const sneaky = await world.checkout.inject({ method: 'PUT', url: `/api/cart/items/${a.id}`, headers, payload: { quantity: 1, priceCents: 1 } });
    expect(sneaky.statusCode).toBe(400);
    expect(sneaky.json().errors[0].path).toBe('/priceCents');
  });

  it('removes a line at quantity 0 and empties with DELETE', async () => {
    const a = await product();
    const headers = await customer();
    await fill(headers, [[a.id, 1]]);
    await fill(headers, [[a.id, 0]]);
    expect((await world.checkout.inject({ url: '/api/cart', headers })).json().items).toEqual([]);
    await fill(headers, [[a.id, 4]]);
    const emptied = await world.checkout.inject({ method: 'DELETE', url: '/api/cart', headers });
    expect(emptied.json()).toEqual({ items: [], subtotalCents: 0, currency: null });
  });

  it('refuses unknown (404) and archived (409) products, and bad quantities (400), storing nothing', async () => {
    const headers = await customer();
    expect((await world.checkout.inject({ method: 'PUT', url: `/api/cart/items/${randomUUID()}`, headers, payload: { quantity: 1 } })).statusCode).toBe(404);
    const archived = await product();
    await world.catalog.inject({ method: 'DELETE', url: `/api/catalog/products/${archived.id}`, headers: { authorization: admin } });
    expect((await world.checkout.inject({ method: 'PUT', url: `/api/cart/items/${archived.id}`, headers, payload: { quantity: 1 } })).statusCode).toBe(409);
    const a = await product();
    for (const quantity of [-1, 100, 1.5, '2', null]) {
      expect((await world.checkout.inject({ method: 'PUT', url: `/api/cart/items/${a.id}`, headers, payload: { quantity } })).statusCode).toBe(400);
    }
    expect((await world.checkout.inject({ method: 'PUT', url: '/api/cart/items/not-a-uuid', headers, payload: { quantity: 1 } })).statusCode).toBe(400);
    expect((await world.checkout.inject({ url: '/api/cart', headers })).json().items).toEqual([]);
  });

  it('answers 401 without a token', async () => {
    expect((await world.checkout.inject({ url: '/api/cart' })).statusCode).toBe(401);
  });
});

describe('checkout', () => {
  it('accepts with 202, publishes one order.submitted with the priced lines and a traceparent, and clears the cart', async () => {
    await drainQueue(world.clients, intake(), 100);
    const a = await product({ priceCents: 700 });
    const headers = await customer();
    await fill(headers, [[a.id, 3]]);
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const res = await world.checkout.inject({ method: 'POST', url: '/api/checkout', headers: { ...headers, 'idempotency-key': 'k-1', traceparent }, payload: body() });
    expect(res.statusCode, res.body).toBe(202);
    const answer = res.json();
    expect(answer).toEqual({ orderId: expect.any(String), status: 'PENDING', statusUrl: `/api/orders/${answer.orderId}` });
    const messages = await drainQueue(world.clients, intake());
    expect(messages).toHaveLength(1);
    const event = JSON.parse(messages[0]!.Body!);
    expect(event).toMatchObject({ type: 'com.securecart.order.submitted', subject: answer.orderId, traceparent });
    expect(event.data).toMatchObject({ orderId: answer.orderId, totalCents: 2100, currency: 'USD', paymentToken: 'tok_approve', lines: [{ productId: a.id, quantity: 3, unitPriceCents: 700 }] });
    expect((await world.checkout.inject({ url: '/api/cart', headers })).json().items).toEqual([]);
  });

  it('gives a retry with the same key and body the same answer, and publishes nothing more', async () => {
    await drainQueue(world.clients, intake(), 100);
    const headers = { ...(await customer()), 'idempotency-key': 'retry-me' };
    await fill(headers, [[(await product()).id, 1]]);
    const first = await world.checkout.inject({ method: 'POST', url: '/api/checkout', headers, payload: body() });
    const again = await world.checkout.inject({ method: 'POST', url: '/api/checkout', headers, payload: body() });
    expect(again.statusCode).toBe(202);
    expect(again.json()).toEqual(first.json());
    expect(await drainQueue(world.clients, intake())).toHaveLength(1);
  });

  it('names one order for 20 concurrent identical checkouts', async () => {
    await drainQueue(world.clients, intake(), 100);
    const headers = { ...(await customer()), 'idempotency-key': 'flash-sale' };
    await fill(headers, [[(await product()).id, 2]]);
    const answers = await Promise.all(Array.from({ length: 20 }, () => world.checkout.inject({ method: 'POST', url: '/api/checkout', headers, payload: body() })));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(20).fill(202));
    expect(new Set(answers.map((a) => a.json().orderId)).size).toBe(1);
    const messages = (await drainQueue(world.clients, intake())).map((m) => JSON.parse(m.Body!));
    expect(messages.length).toBeGreaterThanOrEqual(1);
    // every copy that was published is the same event of the same order: the intake keeps one
    expect(new Set(messages.map((m) => m.id)).size).toBe(1);
    expect(new Set(messages.map((m) => m.data.orderId))).toEqual(new Set([answers[0]!.json().orderId]));
  });

  it('answers 422 to the same key with another body, and publishes nothing for it', async () => {
    await drainQueue(world.clients, intake(), 100);
    const headers = { ...(await customer()), 'idempotency-key': 'reused' };
    const p = await product();
    await fill(headers, [[p.id, 1]]);
    expect((await world.checkout.inject({ method: 'POST', url: '/api/checkout', headers, payload: body() })).statusCode).toBe(202);
    await fill(headers, [[p.id, 1]]);
    const other = await world.checkout.inject({ method: 'POST', url: '/api/checkout', headers, payload: body({ paymentToken: 'tok_decline' }) });
    expect(other.statusCode).toBe(422);
    expect(other.json().type).toBe('https://securecart.dev/problems/idempotency-key-reused');
    expect(await drainQueue(world.clients, intake())).toHaveLength(1);
  });

  it('answers 409 for an empty cart', async () => {
    const res = await world.checkout.inject({ method: 'POST', url: '/api/checkout', headers: { ...(await customer()), 'idempotency-key': 'empty' }, payload: body() });
    expect(res.statusCode).toBe(409);
    expect(res.json().type).toBe('https://securecart.dev/problems/empty-cart');
  });

  it('answers 503 with Retry-After when SNS cannot be reached, changes nothing, and the retry succeeds with the same order id', async () => {
    await drainQueue(world.clients, intake(), 100);
    const proxy = await TcpProxy.forUrl(world.fauxqsUrl).start();
    try {
      const checkout = await world.buildCheckout({ snsEndpoint: proxy.rewrite(world.fauxqsUrl).replace(/\/$/, '') });
      const headers = { ...(await customer()), 'idempotency-key': 'outage' };
      await fill(headers, [[(await product()).id, 2]]);
      proxy.sever();
      const failed = await checkout.inject({ method: 'POST', url: '/api/checkout', headers, payload: body() });
      expect(failed.statusCode).toBe(503);
      expect(failed.headers['retry-after']).toBeDefined();
      expect((await checkout.inject({ url: '/api/cart', headers })).json().items).toHaveLength(1); // cart untouched
      proxy.restore();
      const retried = await checkout.inject({ method: 'POST', url: '/api/checkout', headers, payload: body() });
      expect(retried.statusCode).toBe(202);
      const messages = (await drainQueue(world.clients, intake())).map((m) => JSON.parse(m.Body!));
      expect(messages.map((m) => m.data.orderId)).toEqual([retried.json().orderId]);
    } finally {
      await proxy.stop();
    }
  });

  it('refuses hostile and malformed bodies with 400, publishing nothing and keeping the cart', async () => {
    await drainQueue(world.clients, intake(), 100);
    const headers = await customer();
    await fill(headers, [[(await product()).id, 1]]);
    const bad: unknown[] = [
      body({ shippingAddress: { ...address, country: 'United Kingdom' } }),
      body({ paymentToken: 12345 }),
      body({ paymentToken: `tok_${'x'.repeat(10_000)}` }),
      body({ shippingAddress: { ...address, line1: 'x'.repeat(5_000) } }),
      body({ contact: { email: 'not an email' } }),
      body({ discountCents: 500 }),
      { ...body(), shippingAddress: undefined },
      [],
    ];
    for (const [i, payload] of bad.entries()) {
      const res = await world.checkout.inject({ method: 'POST', url: '/api/checkout', headers: { ...headers, 'idempotency-key': `bad-${i}` }, payload: payload as object });
      expect(res.statusCode, `case ${i}: ${res.body}`).toBe(400);
    }
    const jsonNull = await world.checkout.inject({
      method: 'POST', url: '/api/checkout', headers: { ...headers, 'idempotency-key': 'null', 'content-type': 'application/json' }, payload: 'null',
    });
    expect(jsonNull.statusCode).toBe(400);
    const noKey = await world.checkout.inject({ method: 'POST', url: '/api/checkout', headers, payload: body() });
    expect(noKey.statusCode).toBe(400);
    expect(noKey.json().errors[0].path).toBe('/idempotency-key');
    expect(await drainQueue(world.clients, intake())).toEqual([]);
    expect((await world.checkout.inject({ url: '/api/cart', headers })).json().items).toHaveLength(1);
  });

  it('answers 503 when Redis, where carts live, goes away', async () => {
    const proxy = await TcpProxy.forUrl(infra.redisUrl).start();
    try {
      const checkout = await world.buildCheckout({ redisUrl: proxy.rewrite(infra.redisUrl) });
      const headers = await customer();
      proxy.sever();
      const cart = await checkout.inject({ url: '/api/cart', headers });
      expect(cart.statusCode).toBe(503);
      expect(cart.headers['retry-after']).toBeDefined();
      const res = await checkout.inject({ method: 'POST', url: '/api/checkout', headers: { ...headers, 'idempotency-key': 'no-redis' }, payload: body() });
      expect(res.statusCode).toBe(503);
      const ready = await checkout.inject({ url: '/health/ready' });
      expect(ready.statusCode).toBe(503);
    } finally {
      await proxy.stop();
    }
  });
});

describe('carts expire, and catalog is reached through a snapshot cache and resilience policies (single flight, bulkhead, retry, breaker, timeout)', () => {
  it('keeps a cart for 7 days after its last change', async () => {
    const sub = `cust-${randomUUID()}`;
    const headers = { authorization: `Bearer ${await idp.token(sub)}` };
    const p = await product();
    await fill(headers, [[p.id, 1]]);
    const ttl = await world.redis.ttl(`${infra.namespace}:checkout:cart:${sub}`);
    expect(ttl).toBeGreaterThan(CART_TTL_SECONDS - 60);
    expect(ttl).toBeLessThanOrEqual(CART_TTL_SECONDS);
  });

  it('asks catalog once for a product, then serves its snapshot from Redis for a few seconds', async () => {
    const { port } = world.catalog.server.address() as AddressInfo;
    const namespace = `${infra.namespace}:cc-${randomUUID().slice(0, 8)}`;
    const client = new CatalogClient({ baseUrl: `http://127.0.0.1:${port}`, redis: world.redis, namespace, snapshotTtlSeconds: 5 });
    const p = await product({ priceCents: 4321 });
    const unknown = randomUUID();
    const first = await client.lookup([p.id, unknown]);
    expect(first.get(p.id)).toMatchObject({ id: p.id, priceCents: 4321 });
    expect(first.has(unknown)).toBe(false); // products that do not exist are absent
    expect(client.stats).toMatchObject({ calls: 1, snapshotHits: 0 });
    const again = await client.lookup([p.id]);
    expect(again.get(p.id)).toMatchObject({ priceCents: 4321 });
    expect(client.stats).toMatchObject({ calls: 1, snapshotHits: 1 });
    const ttl = await world.redis.pttl(`${namespace}:snapshot:${p.id}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5_000);
  });

  it('gives up on a catalog that does not answer after its timeout and one retry, with a 503', async () => {
    const silent = net.createServer(() => undefined); // accepts connections, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const client = new CatalogClient({ baseUrl: `http://127.0.0.1:${port}`, redis: world.redis, namespace: `${infra.namespace}:cc-${randomUUID()}`, timeoutMs: 300, retries: 1 });
      const started = Date.now();
      await expect(client.lookup([randomUUID()])).rejects.toMatchObject({ status: 503 });
      expect(Date.now() - started).toBeLessThan(2_500);
      expect(client.stats).toMatchObject({ calls: 2, failures: 1 });
    } finally {
      silent.close();
    }
  });

  it('retries a look-up that failed with a 5xx, and serves it', async () => {
    const catalog = await fakeCatalog({ failFirst: 1 });
    try {
      const client = new CatalogClient({ baseUrl: catalog.url, redis: world.redis, namespace: `${infra.namespace}:cc-${randomUUID()}` });
      const id = randomUUID();
      expect((await client.lookup([id])).get(id)).toMatchObject({ id });
      expect(catalog.requests()).toBe(2);
      expect(client.stats).toMatchObject({ calls: 2, failures: 0 });
    } finally {
      await catalog.close();
    }
  });

  it('opens its breaker when most calls fail: further calls fail at once with Retry-After, without reaching catalog', async () => {
    const down = net.createServer();
    await new Promise<void>((resolve) => down.listen(0, '127.0.0.1', resolve));
    const { port } = down.address() as AddressInfo;
    await new Promise((resolve) => down.close(resolve)); // nothing listens there now: connections are refused
    const client = new CatalogClient({
      baseUrl: `http://127.0.0.1:${port}`, redis: world.redis, namespace: `${infra.namespace}:cc-${randomUUID()}`,
      retries: 0, breakerWindowMs: 1_000, breakerMinimumRps: 1, breakerOpenMs: 60_000,
    });
    await expect(client.lookup([randomUUID()])).rejects.toMatchObject({ status: 503 });
    expect(client.stats).toMatchObject({ calls: 1, failures: 1, rejectedOpen: 0 });
    const open = await client.lookup([randomUUID()]).catch((error: unknown) => error as { status: number; headers: Record<string, string> });
    expect(open).toMatchObject({ status: 503 });
    expect(Number((open as { headers: Record<string, string> }).headers['retry-after'])).toBeGreaterThan(50);
    expect(client.stats).toMatchObject({ calls: 1, rejectedOpen: 1 });
  });

  it('serves a burst: 60 look-ups of one product share one call, and 60 of different products queue for a few calls at a time', async () => {
    const catalog = await fakeCatalog({ delayMs: 40 });
    try {
      const client = new CatalogClient({ baseUrl: catalog.url, redis: world.redis, namespace: `${infra.namespace}:cc-${randomUUID()}`, concurrency: 4 });
      const one = randomUUID();
      const same = await Promise.all(Array.from({ length: 60 }, () => client.lookup([one])));
      expect(same.every((found) => found.get(one)?.id === one)).toBe(true);
      expect(catalog.requests()).toBe(1);
      expect(client.stats.sharedLookups).toBe(59);

      const ids = Array.from({ length: 60 }, () => randomUUID());
      const many = await Promise.all(ids.map((id) => client.lookup([id])));
      expect(many.every((found, i) => found.get(ids[i]!)?.id === ids[i])).toBe(true);
      expect(catalog.requests()).toBe(61);
      expect(catalog.maxConcurrent()).toBe(4);
      expect(client.stats).toMatchObject({ failures: 0, rejectedBusy: 0, rejectedOpen: 0 });
    } finally {
      await catalog.close();
    }
  });
});

/** A stand-in for catalog's look-up route, for the client's policies: counts requests and how many overlap. */
async function fakeCatalog(options: { failFirst?: number; delayMs?: number }) {
  let requests = 0;
  let concurrent = 0;
  let maxConcurrent = 0;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      requests++;
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      setTimeout(() => {
        concurrent--;
        if (requests <= (options.failFirst ?? 0)) {
          res.writeHead(500).end();
          return;
        }
        const { ids } = JSON.parse(raw) as { ids: string[] };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ items: ids.map((id) => ({ id, sku: `S-${id}`, name: 'Fake', priceCents: 100, currency: 'USD', stock: 5, status: 'active' })) }));
      }, options.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    maxConcurrent: () => maxConcurrent,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

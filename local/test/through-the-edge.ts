/**
 * The contract as a client sees it through an edge (the HTTP API and the order pipeline): the catalog, the
 * checkout, and an order's whole life to SHIPPED, REJECTED or CANCELLED with its notifications in the local sink and
 * its live status stream. Embedded mode (embedded.int.test.ts) and compose mode (compose-stack.int.test.ts) are both
 * held to it, through their own edges.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { waitFor } from '@securecart/testing';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function json(res: Response): Promise<{ status: number; headers: Headers; body: any }> {
  return { status: res.status, headers: res.headers, body: res.status === 204 || res.status === 304 ? null : await res.json() };
}

export async function exerciseCatalogThroughTheEdge(base: string) {
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

export async function exerciseCheckoutThroughTheEdge(base: string) {
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
    // postal code 00001: the simulated carrier keeps answering "try later", so the order cannot ship before the cancel
    body: JSON.stringify({ shippingAddress: { name: 'Carol', line1: '1 Main St', city: 'Springfield', postalCode: '00001', country: 'US' }, paymentToken: 'tok_approve', contact: {} }),
  }));
  expect(checkout.status).toBe(202);
  expect(checkout.body).toMatchObject({ status: 'PENDING', statusUrl: `/api/orders/${checkout.body.orderId}` });
  expect((await json(await fetch(`${base}/api/cart`, { headers }))).body.items).toEqual([]);

  // the order appears once the orders-worker has taken it from the queue (PLACED, or CONFIRMED if fulfillment was quick)
  const order = await waitFor(async () => {
    const res = await json(await fetch(`${base}${checkout.body.statusUrl}`, { headers }));
    return res.status === 200 && res.body;
  }, { timeoutMs: 15_000, what: 'the order to be placed' });
  expect(order).toMatchObject({ id: checkout.body.orderId, totalCents: 2 * first.priceCents + second.priceCents });
  expect(['PLACED', 'CONFIRMED']).toContain(order.status);
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


const ADDRESS = { name: 'Dana', line1: '2 Side St', city: 'Springfield', postalCode: '12345', country: 'US' };

export async function customer(base: string, sub: string, email?: string) {
  const minted = await json(await fetch(`${base}/api/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sub, ...(email ? { email } : {}) }) }));
  return { authorization: `Bearer ${minted.body.accessToken}`, 'content-type': 'application/json' };
}

/** Fills the cart with `quantity` of one product and checks out: returns the order id. */
export async function buy(base: string, headers: Record<string, string>, productId: string, options: { quantity?: number; token?: string; postalCode?: string; email?: string } = {}) {
  const put = await fetch(`${base}/api/cart/items/${productId}`, { method: 'PUT', headers, body: JSON.stringify({ quantity: options.quantity ?? 1 }) });
  expect(put.status, await put.clone().text()).toBe(200);
  const res = await json(await fetch(`${base}/api/checkout`, {
    method: 'POST',
    headers: { ...headers, 'idempotency-key': crypto.randomUUID() },
    body: JSON.stringify({
      shippingAddress: { ...ADDRESS, postalCode: options.postalCode ?? ADDRESS.postalCode },
      paymentToken: options.token ?? 'tok_approve',
      contact: options.email ? { email: options.email } : {},
    }),
  }));
  expect(res.status).toBe(202);
  return res.body.orderId as string;
}

export async function settled(base: string, headers: Record<string, string>, orderId: string, statuses: string[], timeoutMs = 30_000, intervalMs = 100) {
  return waitFor(async () => {
    const res = await json(await fetch(`${base}/api/orders/${orderId}`, { headers }));
    return res.status === 200 && statuses.includes(res.body.status) && res.body;
  }, { timeoutMs, intervalMs, what: `order ${orderId} to be ${statuses.join(' or ')}` });
}

export async function newProduct(base: string, stock: number): Promise<string> {
  const token = (await json(await fetch(`${base}/api/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sub: 'pipeline-admin', groups: ['admin'] }) }))).body.accessToken;
  const n = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const created = await json(await fetch(`${base}/api/catalog/products`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sku: `P-${n}`, slug: `pipeline-${n}`, name: `Pipeline ${n}`, priceCents: 1000, category: 'misc', stock }),
  }));
  expect(created.status).toBe(201);
  return created.body.id as string;
}

export const stockOf = async (base: string, productId: string) => (await json(await fetch(`${base}/api/catalog/products/${productId}`))).body.stock as number;

/** Reads a text/event-stream until the server closes it: the `status` events' data, in order. */
export async function readStatusStream(res: Response): Promise<{ id: string; status: string }[]> {
  const events: { id: string; status: string }[] = [];
  const text = await res.text(); // resolves when the server ends the stream
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n');
    if (!lines.some((l) => l === 'event: status')) continue;
    const id = lines.find((l) => l.startsWith('id: '))!.slice(4);
    const data = JSON.parse(lines.find((l) => l.startsWith('data: '))!.slice(6)) as { status: string };
    events.push({ id, status: data.status });
  }
  return events;
}

export async function exercisePipelineThroughTheEdge(base: string, sinkDir: string, options: { oversell?: boolean } = {}) {
  const product = await newProduct(base, 50);
  const dana = await customer(base, `dana-${Date.now()}`, 'dana@example.com');

  // tok_approve: PLACED → CONFIRMED → SHIPPED by itself, one email per status change
  const shipped = await buy(base, dana, product, { quantity: 2, email: 'dana@example.com' });
  const streamed = fetch(`${base}/api/orders/${shipped}/events`, { headers: { authorization: dana.authorization } });
  const order = await settled(base, dana, shipped, ['SHIPPED']);
  expect(order.statusHistory.map((h: { status: string }) => h.status)).toEqual(['PLACED', 'CONFIRMED', 'SHIPPED']);
  // the live stream (through the edge): the current status first, then each change, closed after SHIPPED
  const stream = await streamed;
  if (stream.status === 404) {
    // the stream was opened before intake placed the order: open it again now, it replays from the start
    const again = await fetch(`${base}/api/orders/${shipped}/events`, { headers: { authorization: dana.authorization, 'last-event-id': '0' } });
    expect(again.headers.get('content-type')).toContain('text/event-stream');
    expect((await readStatusStream(again)).map((e) => e.status).at(-1)).toBe('SHIPPED');
  } else {
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    const events = await readStatusStream(stream);
    expect(events.map((e) => e.status).at(-1)).toBe('SHIPPED');
    const statuses = events.map((e) => e.status);
    expect(['PLACED', 'CONFIRMED', 'SHIPPED'].filter((s) => statuses.includes(s))).toEqual(statuses);
  }
  await waitFor(() => {
    const mine = readdirSync(sinkDir).map((f) => JSON.parse(readFileSync(path.join(sinkDir, f), 'utf8')) as { orderId: string; eventType: string; to: string });
    const types = mine.filter((m) => m.orderId === shipped).map((m) => m.eventType.replace('com.securecart.', '')).sort();
    return types.length === 2 && types.join() === 'order.confirmed,order.shipped' && mine.filter((m) => m.orderId === shipped).every((m) => m.to === 'dana@example.com');
  }, { timeoutMs: 15_000, what: 'a confirmed and a shipped email in the local sink' });
  expect(await stockOf(base, product)).toBe(48);

  // tok_decline: REJECTED with its reason, the stock back
  const declined = await buy(base, dana, product, { quantity: 3, token: 'tok_decline' });
  const rejected = await settled(base, dana, declined, ['REJECTED']);
  expect(rejected.statusHistory.at(-1)).toMatchObject({ status: 'REJECTED', reason: expect.stringMatching(/declined/) });
  await waitFor(async () => (await stockOf(base, product)) === 48, { timeoutMs: 10_000, what: 'the declined order’s stock back' });

  // tok_transient: retried with backoff, then shipped
  const transient = await buy(base, dana, product, { token: 'tok_transient' });
  await settled(base, dana, transient, ['SHIPPED'], 30_000);

  // cancel while fulfillment waits on the carrier: CANCELLED, the stock restored
  const held = await buy(base, dana, product, { quantity: 5, postalCode: '00001' });
  await settled(base, dana, held, ['CONFIRMED']);
  await waitFor(async () => (await stockOf(base, product)) === 42, { timeoutMs: 10_000, what: 'the held order’s stock taken' });
  const cancel = await json(await fetch(`${base}/api/orders/${held}/cancel`, { method: 'POST', headers: dana }));
  expect(cancel.status).toBe(200);
  await waitFor(async () => (await stockOf(base, product)) === 47, { timeoutMs: 15_000, what: 'the cancelled order’s stock restored' });

  if (options.oversell) {
    // a flash sale: 10 in stock, 100 buyers of one at once → exactly 10 shipped, 90 rejected, stock 0
    const scarce = await newProduct(base, 10);
    const buyers = await Promise.all(Array.from({ length: 100 }, (_, i) => customer(base, `flash-${Date.now()}-${i}`)));
    const orders = await Promise.all(buyers.map((headers) => buy(base, headers, scarce).then((id) => ({ id, headers }))));
    const final = await Promise.all(orders.map(({ id, headers }) => settled(base, headers, id, ['SHIPPED', 'REJECTED'], 120_000, 1_000)));
    const count = (status: string) => final.filter((o) => o.status === status).length;
    expect([count('SHIPPED'), count('REJECTED')]).toEqual([10, 90]);
    expect(final.filter((o) => o.status === 'REJECTED').every((o) => /stock/.test(o.statusHistory.at(-1).reason))).toBe(true);
    expect(await stockOf(base, scarce)).toBe(0);
  }
}

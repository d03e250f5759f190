/**
 * The orders HTTP API on real Postgres (primary + replica) and Redis: who sees which order, lists and their
 * cursors, and bad input answered with 400 while nothing changes.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestIdentityProvider, type TestIdentityProvider } from '@securecart/testing';
import { buildTestOrders, migrateOrders, storedOrder, submittedEvent, type TestOrders } from './harness.ts';

const infra = inject('infra');
let idp: TestIdentityProvider;
let orders: TestOrders;
let admin: string;

beforeAll(async () => {
  idp = await startTestIdentityProvider();
  await migrateOrders(infra);
  orders = await buildTestOrders(infra, idp);
  admin = `Bearer ${await idp.token(`admin-${randomUUID()}`, { admin: true })}`;
});
afterAll(async () => {
  await orders?.close();
  await idp?.close();
});

/** A customer of their own, with a bearer token. */
async function newCustomer() {
  const id = `customer-${randomUUID()}`;
  return { id, auth: `Bearer ${await idp.token(id)}` };
}

async function placeOrder(customerId: string): Promise<string> {
  const event = submittedEvent(customerId);
  await orders.place(event);
  return event.data.orderId;
}

const get = (url: string, authorization: string) => orders.app.inject({ url, headers: { authorization } });

describe('who sees an order', () => {
  it('answers 404, never 403, for another customer’s order, and leaves it out of their list', async () => {
    const owner = await newCustomer();
    const stranger = await newCustomer();
    const orderId = await placeOrder(owner.id);
    await orders.untilReplicated(await placeOrder(stranger.id));

    const res = await get(`/api/orders/${orderId}`, stranger.auth);
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ status: 404, type: 'https://securecart.dev/problems/not-found' });
    // the same answer as for an order that does not exist at all
    expect((await get(`/api/orders/${randomUUID()}`, stranger.auth)).json()).toMatchObject({ status: 404, title: 'Not found' });

    const list = (await get('/api/orders', stranger.auth)).json();
    expect(list.items).toHaveLength(1);
    expect(list.items.map((o: { id: string }) => o.id)).not.toContain(orderId);
    expect((await get(`/api/orders/${orderId}`, owner.auth)).statusCode).toBe(200);
  });

  it('lets an admin read any order, and list every order by status', async () => {
    const owner = await newCustomer();
    const orderId = await placeOrder(owner.id);
    const res = await get(`/api/orders/${orderId}`, admin);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: orderId, customerId: owner.id, status: 'PLACED', totalCents: 3700 });
    await orders.sql.query("update orders.orders set status = 'SHIPPED', version = version + 1 where id = $1", [orderId]);
    await orders.untilReplicated(orderId);
    const shipped = (await orders.app.inject({ url: '/api/admin/orders?status=SHIPPED&limit=100', headers: { authorization: admin } })).json();
    expect(shipped.items.find((o: { id: string }) => o.id === orderId)).toMatchObject({ customerId: owner.id, status: 'SHIPPED', itemCount: 3 });
    expect(shipped.items.every((o: { status: string }) => o.status === 'SHIPPED')).toBe(true);
  });

  it('answers 401 without a token and 403 to a customer on admin routes', async () => {
    expect((await orders.app.inject({ url: '/api/orders' })).statusCode).toBe(401);
    expect((await orders.app.inject({ url: `/api/orders/${randomUUID()}` })).statusCode).toBe(401);
    const customer = await newCustomer();
    expect((await get('/api/admin/orders', customer.auth)).statusCode).toBe(403);
  });
});

describe('own orders list', () => {
  it('lists a customer’s orders newest first, in pages chained by cursor without gaps or repeats', async () => {
    const customer = await newCustomer();
    const placed: string[] = [];
    for (let i = 0; i < 5; i++) placed.push(await placeOrder(customer.id));
    await orders.untilReplicated(placed.at(-1)!);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/api/orders?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await get(url, customer.auth);
      expect(res.statusCode).toBe(200);
      const page = res.json();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((o: { id: string }) => o.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...placed].reverse());
  });

  it('shows each order as a summary: status, total, units and dates', async () => {
    const customer = await newCustomer();
    const orderId = await placeOrder(customer.id);
    await orders.untilReplicated(orderId);
    const [summary] = (await get('/api/orders', customer.auth)).json().items;
    expect(summary).toEqual({
      id: orderId,
      customerId: customer.id,
      status: 'PLACED',
      itemCount: 3,
      totalCents: 3700,
      currency: 'USD',
      createdAt: expect.stringMatching(/Z$/),
      updatedAt: expect.stringMatching(/Z$/),
    });
  });
});

describe('bad input', () => {
  it('answers 400 for malformed ids, limits and cursors', async () => {
    const customer = await newCustomer();
    for (const url of ['/api/orders/not-a-uuid', '/api/orders/123', '/api/orders?limit=101', '/api/orders?limit=0', '/api/orders?colour=red']) {
      const res = await get(url, customer.auth);
      expect(res.statusCode, url).toBe(400);
      expect(res.json().type).toBe('https://securecart.dev/problems/validation');
    }
    const cursor = await get('/api/orders?cursor=bm9wZQ', customer.auth);
    expect(cursor.statusCode).toBe(400);
    expect(cursor.json().errors[0].path).toBe('/cursor');
    expect((await get('/api/admin/orders?status=LOST', admin)).statusCode).toBe(400);
    expect((await orders.app.inject({ method: 'POST', url: '/api/orders/nope/cancel', headers: { authorization: customer.auth } })).statusCode).toBe(400);
    expect((await orders.app.inject({ method: 'POST', url: '/api/admin/orders/nope/refund', headers: { authorization: admin } })).statusCode).toBe(400);
  });

  it('answers 400 for unknown or malformed body fields on cancel and refund, and changes nothing', async () => {
    const customer = await newCustomer();
    const orderId = await placeOrder(customer.id);
    const cancel = await orders.app.inject({
      method: 'POST', url: `/api/orders/${orderId}/cancel`, headers: { authorization: customer.auth }, payload: { reason: 'too slow', colour: 'red' },
    });
    expect(cancel.statusCode).toBe(400);
    expect(cancel.json().errors.map((e: { path: string }) => e.path)).toEqual(['/colour']);
    const empty = await orders.app.inject({
      method: 'POST', url: `/api/orders/${orderId}/cancel`, headers: { authorization: customer.auth }, payload: { reason: '' },
    });
    expect(empty.statusCode).toBe(400);

    await orders.sql.query("update orders.orders set status = 'CONFIRMED', version = version + 1 where id = $1", [orderId]);
    const refund = await orders.app.inject({
      method: 'POST', url: `/api/admin/orders/${orderId}/refund`, headers: { authorization: admin }, payload: { amountCents: 1 },
    });
    expect(refund.statusCode).toBe(400);
    expect(refund.json().errors.map((e: { path: string }) => e.path)).toEqual(['/amountCents']);

    expect(await storedOrder(orders.sql, orderId)).toEqual({
      order: { status: 'CONFIRMED', version: 2, reason: null },
      history: ['PLACED'],
      events: ['order.placed'],
    });
  });

  it('answers 400 to a JSON null body on cancel and refund: a body that is not an object, not a missing one (it refunded)', async () => {
    const customer = await newCustomer();
    const orderId = await placeOrder(customer.id);
    await orders.sql.query("update orders.orders set status = 'CONFIRMED', version = version + 1 where id = $1", [orderId]);
    const post = (url: string, authorization: string) =>
      orders.app.inject({ method: 'POST', url, headers: { authorization, 'content-type': 'application/json' }, payload: 'null' });
    expect((await post(`/api/orders/${orderId}/cancel`, customer.auth)).statusCode).toBe(400);
    expect((await post(`/api/admin/orders/${orderId}/refund`, admin)).statusCode).toBe(400);
    expect(await storedOrder(orders.sql, orderId)).toEqual({
      order: { status: 'CONFIRMED', version: 2, reason: null },
      history: ['PLACED'],
      events: ['order.placed'],
    });
  });
});

/**
 * Cancel and refund on real infrastructure: each allowed change lands whole (status, history, the event on its
 * queue through the outbox relay), each refused one changes nothing, concurrent requests cannot both win, and the
 * caller's next read comes from the primary even when the replica has not caught up.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestIdentityProvider, waitFor, type TestIdentityProvider } from '@securecart/testing';
import type { OrdersWorker } from '../src/worker.ts';
import {
  buildTestOrders, migrateOrders, QueueTap, startTestMessaging, startTestWorker, storedOrder, submittedEvent, type TestMessaging,
  type TestOrders,
} from './harness.ts';

const infra = inject('infra');
let idp: TestIdentityProvider;
let orders: TestOrders;
let messaging: TestMessaging;
let worker: OrdersWorker;
let notifications: QueueTap;
let admin: string;
const opened: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  idp = await startTestIdentityProvider();
  await migrateOrders(infra);
  orders = await buildTestOrders(infra, idp);
  messaging = await startTestMessaging();
  notifications = new QueueTap(messaging, 'notifications');
  worker = await startTestWorker(infra, messaging);
  admin = `Bearer ${await idp.token(`admin-${randomUUID()}`, { admin: true })}`;
});
afterAll(async () => {
  for (const thing of opened.reverse()) await thing.close();
  await worker?.stop();
  await notifications?.stop();
  await messaging?.close();
  await orders?.close();
  await idp?.close();
});

async function newCustomer() {
  const id = `customer-${randomUUID()}`;
  return { id, auth: `Bearer ${await idp.token(id)}` };
}

async function placeOrder(customerId: string, on: TestOrders = orders): Promise<string> {
  const event = submittedEvent(customerId);
  await on.place(event);
  return event.data.orderId;
}

/** States only fulfillment reaches (CONFIRMED, SHIPPED, REJECTED), set up directly, as its facts would. */
async function setStatus(orderId: string, status: string) {
  await orders.sql.query('update orders.orders set status = $2, version = version + 1 where id = $1', [orderId, status]);
}

const cancel = (orderId: string, authorization: string, payload?: object) =>
  orders.app.inject({ method: 'POST', url: `/api/orders/${orderId}/cancel`, headers: { authorization }, ...(payload ? { payload } : {}) });
const refund = (orderId: string, authorization: string) =>
  orders.app.inject({ method: 'POST', url: `/api/admin/orders/${orderId}/refund`, headers: { authorization } });

describe('cancel', () => {
  it('cancels a PLACED order: status CANCELLED, history PLACED then CANCELLED, and order.cancelled on the notifications queue', async () => {
    const customer = await newCustomer();
    const orderId = await placeOrder(customer.id);
    const res = await cancel(orderId, customer.auth, { reason: 'found it cheaper' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      id: orderId,
      status: 'CANCELLED',
      reason: 'found it cheaper',
      statusHistory: [
        { status: 'PLACED', reason: null },
        { status: 'CANCELLED', reason: 'found it cheaper' },
      ],
    });
    const read = (await orders.app.inject({ url: `/api/orders/${orderId}`, headers: { authorization: customer.auth } })).json();
    expect(read.status).toBe('CANCELLED');
    expect(read.statusHistory.map((h: { status: string }) => h.status)).toEqual(['PLACED', 'CANCELLED']);

    const [event] = await waitFor(() => notifications.about(orderId, 'order.cancelled').length > 0 && notifications.about(orderId), {
      timeoutMs: 10_000,
      what: 'order.cancelled on the notifications queue',
    });
    expect(event).toMatchObject({
      source: '/securecart/orders',
      data: { orderId, customerId: customer.id, contact: { email: 'ada@example.com' }, reason: 'found it cheaper' },
    });
  });

  it('cancels a CONFIRMED order too, without a body', async () => {
    const customer = await newCustomer();
    const orderId = await placeOrder(customer.id);
    await setStatus(orderId, 'CONFIRMED');
    const res = await cancel(orderId, customer.auth);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ status: 'CANCELLED', reason: 'cancelled by the customer' });
  });

  it.each(['CANCELLED', 'REJECTED', 'SHIPPED'])('refuses with 409 to cancel an order that is %s, and changes nothing', async (status) => {
    const customer = await newCustomer();
    const orderId = await placeOrder(customer.id);
    await setStatus(orderId, status);
    const before = await storedOrder(orders.sql, orderId);
    const res = await cancel(orderId, customer.auth);
    expect(res.statusCode).toBe(409);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ status: 409, type: 'https://securecart.dev/problems/invalid-transition', detail: `An order that is ${status} cannot become CANCELLED` });
    expect(await storedOrder(orders.sql, orderId)).toEqual(before);
  });

  it('answers 404 to a customer cancelling someone else’s order, and to an admin (cancel is the owner’s)', async () => {
    const owner = await newCustomer();
    const stranger = await newCustomer();
    const orderId = await placeOrder(owner.id);
    expect((await cancel(orderId, stranger.auth)).statusCode).toBe(404);
    expect((await cancel(orderId, admin)).statusCode).toBe(404);
    expect((await cancel(randomUUID(), owner.auth)).statusCode).toBe(404);
    expect((await storedOrder(orders.sql, orderId)).order?.status).toBe('PLACED');
  });

  it('lets exactly one of 20 concurrent cancels succeed, with one history row and one order.cancelled', async () => {
    const customer = await newCustomer();
    const orderId = await placeOrder(customer.id);
    const answers = await Promise.all(Array.from({ length: 20 }, () => cancel(orderId, customer.auth)));
    const codes = answers.map((a) => a.statusCode).sort();
    expect(codes.filter((c) => c === 200)).toHaveLength(1);
    expect(codes.filter((c) => c === 409)).toHaveLength(19);
    expect(await storedOrder(orders.sql, orderId)).toEqual({
      order: { status: 'CANCELLED', version: 2, reason: 'cancelled by the customer' },
      history: ['PLACED', 'CANCELLED'],
      events: ['order.placed', 'order.cancelled'],
    });
  });

  it('answers the customer’s read right after their cancel from the primary, while the replica still has the order as PLACED', async () => {
    // a generous lag bound keeps the router on the replica while its replay is paused
    const lagging = await buildTestOrders(infra, idp, { maxLagMs: 60_000 });
    opened.push(lagging);
    await waitFor(() => lagging.router.replicaState.healthy, { what: 'a healthy replica' });
    const customer = await newCustomer();
    const orderId = await placeOrder(customer.id, lagging);
    await lagging.untilReplicated(orderId);

    const replica = new pg.Client({ connectionString: infra.databaseReadUrl });
    await replica.connect();
    try {
      await replica.query('select pg_wal_replay_pause()');
      const res = await lagging.app.inject({ method: 'POST', url: `/api/orders/${orderId}/cancel`, headers: { authorization: customer.auth } });
      expect(res.statusCode).toBe(200);
      const mine = await lagging.app.inject({ url: `/api/orders/${orderId}`, headers: { authorization: customer.auth } });
      expect(mine.json().status).toBe('CANCELLED');
      const myList = await lagging.app.inject({ url: '/api/orders', headers: { authorization: customer.auth } });
      expect(myList.json().items[0]).toMatchObject({ id: orderId, status: 'CANCELLED' });
      // someone who did not write reads the replica, which has not replayed the cancel
      const others = await lagging.app.inject({ url: `/api/orders/${orderId}`, headers: { authorization: admin } });
      expect(others.json().status).toBe('PLACED');
    } finally {
      await replica.query('select pg_wal_replay_resume()');
      await replica.end();
    }
  });

  it('finds an order placed while the replica is behind: the replica\'s 404 is checked on the primary', async () => {
    const lagging = await buildTestOrders(infra, idp, { maxLagMs: 60_000 });
    opened.push(lagging);
    await waitFor(() => lagging.router.replicaState.healthy, { what: 'a healthy replica' });
    const customer = await newCustomer();
    const replica = new pg.Client({ connectionString: infra.databaseReadUrl });
    await replica.connect();
    try {
      await replica.query('select pg_wal_replay_pause()');
      const orderId = await placeOrder(customer.id, lagging); // intake wrote it on the primary only
      const onReplica = await replica.query('select 1 from orders.orders where id = $1', [orderId]);
      expect(onReplica.rowCount).toBe(0);
      const res = await lagging.app.inject({ url: `/api/orders/${orderId}`, headers: { authorization: admin } });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ id: orderId, status: 'PLACED' });
      // and an order that exists nowhere is still a 404
      expect((await lagging.app.inject({ url: `/api/orders/${randomUUID()}`, headers: { authorization: admin } })).statusCode).toBe(404);
    } finally {
      await replica.query('select pg_wal_replay_resume()');
      await replica.end();
    }
  });
});

describe('refund', () => {
  it('refunds a CONFIRMED order for an admin: REFUNDED, history, and order.refunded for the whole total on the notifications queue', async () => {
    const customer = await newCustomer();
    const orderId = await placeOrder(customer.id);
    await setStatus(orderId, 'CONFIRMED');
    const res = await refund(orderId, admin);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ status: 'REFUNDED', reason: 'refunded by an administrator' });
    expect(res.json().statusHistory.map((h: { status: string }) => h.status)).toEqual(['PLACED', 'REFUNDED']);
    const [event] = await waitFor(() => notifications.about(orderId, 'order.refunded').length > 0 && notifications.about(orderId), {
      timeoutMs: 10_000,
      what: 'order.refunded on the notifications queue',
    });
    expect(event!.data).toEqual({ orderId, customerId: customer.id, contact: { email: 'ada@example.com' }, amountCents: 3700, currency: 'USD' });
  });

  it('refunds a SHIPPED order', async () => {
    const orderId = await placeOrder(`customer-${randomUUID()}`);
    await setStatus(orderId, 'SHIPPED');
    expect((await refund(orderId, admin)).json().status).toBe('REFUNDED');
  });

  it('answers 403 to a customer asking for a refund, even of their own order, and changes nothing', async () => {
    const customer = await newCustomer();
    const orderId = await placeOrder(customer.id);
    await setStatus(orderId, 'CONFIRMED');
    const res = await refund(orderId, customer.auth);
    expect(res.statusCode).toBe(403);
    expect((await storedOrder(orders.sql, orderId)).order?.status).toBe('CONFIRMED');
  });

  it.each(['PLACED', 'CANCELLED', 'REJECTED', 'REFUNDED'])('refuses with 409 to refund an order that is %s, and changes nothing', async (status) => {
    const orderId = await placeOrder(`customer-${randomUUID()}`);
    if (status !== 'PLACED') await setStatus(orderId, status);
    const before = await storedOrder(orders.sql, orderId);
    const res = await refund(orderId, admin);
    expect(res.statusCode).toBe(409);
    expect(res.json().type).toBe('https://securecart.dev/problems/invalid-transition');
    expect(await storedOrder(orders.sql, orderId)).toEqual(before);
  });

  it('answers 404 for a refund of an order that does not exist', async () => {
    expect((await refund(randomUUID(), admin)).statusCode).toBe(404);
  });
});

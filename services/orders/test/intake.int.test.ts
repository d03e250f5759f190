/**
 * Intake end to end on the SQS/SNS wire protocol (fauxqs) and real Postgres: checkout's order.submitted on the
 * orders-intake queue becomes a PLACED order that its customer can read, and order.placed reaches fulfillment,
 * once, however often the submission arrives.
 */
import { randomUUID } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { drizzle } from 'drizzle-orm/node-postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestIdentityProvider, waitFor, type TestIdentityProvider } from '@securecart/testing';
import { placeSubmittedOrders } from '../src/db/orders-repo.ts';
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
let fulfillment: QueueTap;

beforeAll(async () => {
  idp = await startTestIdentityProvider();
  await migrateOrders(infra);
  orders = await buildTestOrders(infra, idp);
  messaging = await startTestMessaging();
  fulfillment = new QueueTap(messaging, 'fulfillment');
  worker = await startTestWorker(infra, messaging);
});
afterAll(async () => {
  await worker?.stop();
  await fulfillment?.stop();
  await messaging?.close();
  await orders?.close();
  await idp?.close();
});

const sendToIntake = (body: string) =>
  messaging.clients.sqs.send(new SendMessageCommand({ QueueUrl: messaging.addresses.queueUrls['orders-intake'], MessageBody: body }));

/** Waits until the relay has published the order's order.placed and the queue has been quiet a while after. */
async function placedEventsOf(orderId: string) {
  await waitFor(() => fulfillment.about(orderId, 'order.placed').length > 0, { timeoutMs: 10_000, what: `order.placed for ${orderId}` });
  await new Promise((resolve) => setTimeout(resolve, 1_000)); // a duplicate would have been relayed by now
  return fulfillment.about(orderId, 'order.placed');
}

describe('intake', () => {
  it('turns an order.submitted published by checkout into a PLACED order its customer reads, and sends order.placed to fulfillment', async () => {
    const customer = `customer-${randomUUID()}`;
    const submitted = submittedEvent(customer);
    const orderId = submitted.data.orderId;
    await messaging.publisher.publish(messaging.addresses.topicArns['checkout-events'], [submitted]);

    const token = `Bearer ${await idp.token(customer)}`;
    const res = await waitFor(async () => {
      const r = await orders.app.inject({ url: `/api/orders/${orderId}`, headers: { authorization: token } });
      return r.statusCode === 200 && r;
    }, { timeoutMs: 10_000, what: 'the order to be readable' });
    expect(res.json()).toMatchObject({
      id: orderId,
      customerId: customer,
      status: 'PLACED',
      totalCents: 3700,
      currency: 'USD',
      items: submitted.data.lines,
      shippingAddress: submitted.data.shippingAddress,
      contact: submitted.data.contact,
      statusHistory: [{ status: 'PLACED', reason: null, at: expect.any(String) }],
    });

    const [placed] = await placedEventsOf(orderId);
    expect(placed).toMatchObject({
      source: '/securecart/orders-worker',
      subject: orderId,
      correlationid: submitted.correlationid,
      traceparent: submitted.traceparent,
      data: { orderId, customerId: customer, lines: submitted.data.lines, totalCents: 3700, paymentToken: 'tok_approve' },
    });
    const { rows } = await orders.sql.query('select row_to_json(o)::text as stored from orders.orders o where id = $1', [orderId]);
    expect(rows[0].stored).not.toContain('tok_approve'); // the payment token travels on, it is not kept
  });

  it('acknowledges a redelivered message and a second submission of the same order: one order, one order.placed', async () => {
    const customer = `customer-${randomUUID()}`;
    const first = submittedEvent(customer);
    const orderId = first.data.orderId;
    const again = submittedEvent(customer, { orderId }); // checkout retried: a new event id for the same order id
    expect(again.id).not.toBe(first.id);

    await sendToIntake(JSON.stringify(first));
    await sendToIntake(JSON.stringify(first)); // SQS delivered the same message twice
    await sendToIntake(JSON.stringify(again));

    await waitFor(
      async () => {
        const { rows } = await orders.sql.query('select count(*)::int as n from orders.processed_events where event_id = any($1::uuid[])', [[first.id, again.id]]);
        return rows[0].n === 2;
      },
      { timeoutMs: 10_000, what: 'both events to be processed' },
    );
    await waitFor(() => worker.consumer.stats.handled['com.securecart.order.submitted']! >= 3, { timeoutMs: 10_000, what: 'all three deliveries' });

    expect(await placedEventsOf(orderId)).toHaveLength(1);
    const stored = await storedOrder(orders.sql, orderId);
    expect(stored.order?.status).toBe('PLACED');
    expect(stored.history).toEqual(['PLACED']);
    expect(stored.events).toEqual(['order.placed']);
    expect(worker.consumer.stats.failed['com.securecart.order.submitted'] ?? 0).toBe(0);
  });

  describe('a batch in one statement', () => {
    const countOf = async (table: string, column: string, ids: string[]) =>
      (await orders.sql.query(`select count(*)::int as n from orders.${table} where ${column} = any($1::uuid[])`, [ids])).rows[0].n as number;

    it('places new orders, skips a redelivery, an order already placed and a second submission of one order in the same batch', async () => {
      const customer = `customer-${randomUUID()}`;
      const placedBefore = submittedEvent(customer);
      await orders.place(placedBefore);
      const fresh = Array.from({ length: 5 }, () => submittedEvent(customer));
      const twice = submittedEvent(customer);
      const twiceAgain = submittedEvent(customer, { orderId: twice.data.orderId }); // checkout retried: same order, new event id
      const retriedLater = submittedEvent(customer, { orderId: placedBefore.data.orderId });
      const batch = [fresh[0]!, placedBefore, twice, fresh[1]!, twiceAgain, fresh[2]!, retriedLater, fresh[3]!, fresh[0]!, fresh[4]!];

      const results = await placeSubmittedOrders(drizzle(orders.sql), batch.map((event) => ({
        eventId: event.id, eventType: event.type, order: { id: event.data.orderId, ...event.data }, placedEvent: { ...event, id: randomUUID() } as never,
      })));
      // each submission's own outcome, in the order given
      expect(results.map((r) => r.outcome)).toEqual([
        'placed', 'redelivered', 'placed', 'placed', 'duplicate-order', 'placed', 'duplicate-order', 'placed', 'redelivered', 'placed',
      ]);
      const placed = results.flatMap((r, i) => (r.outcome === 'placed' ? [[batch[i]!.data.orderId, r.history.orderId]] : []));
      for (const [orderId, historyOrderId] of placed) expect(historyOrderId).toBe(orderId);

      const orderIds = [...new Set(batch.map((e) => e.data.orderId))];
      expect(orderIds).toHaveLength(7);
      expect(await countOf('orders', 'id', orderIds)).toBe(7);
      expect(await countOf('status_history', 'order_id', orderIds)).toBe(7);
      const outbox = await orders.sql.query('select subject from orders.outbox where subject = any($1::text[])', [orderIds]);
      expect(outbox.rows.map((r: { subject: string }) => r.subject).sort()).toEqual([...orderIds].sort()); // one order.placed each
      expect(await countOf('processed_events', 'event_id', [...new Set(batch.map((e) => e.id))])).toBe(9);
    });

    it('stores each order of a batch as a single submission would, with its own order.placed', async () => {
      const customer = `customer-${randomUUID()}`;
      const events = Array.from({ length: 10 }, () => submittedEvent(customer));
      await orders.placeAll(events);
      for (const event of events) {
        const { rows } = await orders.sql.query(
          'select customer_id, status, lines, total_cents, shipping_address, contact from orders.orders where id = $1', [event.data.orderId],
        );
        expect(rows[0]).toEqual({
          customer_id: customer, status: 'PLACED', lines: event.data.lines, total_cents: 3700,
          shipping_address: event.data.shippingAddress, contact: event.data.contact,
        });
        const { rows: [outboxed] } = await orders.sql.query("select envelope from orders.outbox where subject = $1 and type = 'com.securecart.order.placed'", [event.data.orderId]);
        expect(outboxed.envelope).toMatchObject({
          subject: event.data.orderId, correlationid: event.correlationid, traceparent: event.traceparent,
          data: { orderId: event.data.orderId, lines: event.data.lines, paymentToken: 'tok_approve' },
        });
      }
    });

    it('runs overlapping batches at the same moment without a deadlock: each order once', async () => {
      const customer = `customer-${randomUUID()}`;
      const events = Array.from({ length: 30 }, () => submittedEvent(customer));
      // four batches over the same orders in different orders and groupings, each submission redelivered to some
      const shuffled = (list: typeof events) => [...list].sort(() => Math.random() - 0.5);
      const batches = [events.slice(0, 10), shuffled(events).slice(0, 10), shuffled(events.slice(5, 25)).slice(0, 10), [...events].reverse().slice(0, 10)];
      await Promise.all([...batches.map((b) => orders.placeAll(b)), ...events.slice(20).map((e) => orders.place(e))]);
      const orderIds = events.map((e) => e.data.orderId);
      const placedNow = await countOf('orders', 'id', orderIds);
      // every order named in some batch or placed alone is there exactly once
      const named = new Set([...batches.flat(), ...events.slice(20)].map((e) => e.data.orderId));
      expect(placedNow).toBe(named.size);
      expect(await countOf('status_history', 'order_id', orderIds)).toBe(named.size);
      const { rows } = await orders.sql.query('select count(*)::int as n from orders.outbox where subject = any($1::text[])', [orderIds]);
      expect(rows[0].n).toBe(named.size);
    });
  });

  it('places one order when several submissions of it are handled at the same moment', async () => {
    const customer = `customer-${randomUUID()}`;
    const first = submittedEvent(customer);
    const orderId = first.data.orderId;
    const submissions = Array.from({ length: 5 }, () => submittedEvent(customer, { orderId }));
    await Promise.all([first, ...submissions].map((event) => orders.place(event)));
    const stored = await storedOrder(orders.sql, orderId);
    expect(stored.history).toEqual(['PLACED']);
    expect(stored.events).toEqual(['order.placed']);
  });
});

/**
 * Fulfillment's facts, published on the real fulfillment-events topic (fauxqs) and consumed by the orders-worker
 * from orders-fulfillment-updates, move orders through their states on real Postgres: each change whole (status,
 * history, the order event through the outbox to notifications), each fact once however often it arrives, early
 * facts retried until they apply, and facts that no longer apply acknowledged without a change.
 */
import { randomUUID } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { drizzle } from 'drizzle-orm/node-postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestIdentityProvider, waitFor, type TestIdentityProvider } from '@securecart/testing';
import { createEvent, type CloudEvent } from '@securecart/messaging';
import { updateStatusForFact } from '../src/db/orders-repo.ts';
import {
  buildTestOrders, factEvent, migrateOrders, QueueTap, startTestMessaging, startTestWorker, storedOrder, submittedEvent, type TestMessaging,
  type TestOrders, type TestWorker,
} from './harness.ts';

const infra = inject('infra');
let idp: TestIdentityProvider;
let orders: TestOrders;
let messaging: TestMessaging;
let worker: TestWorker;
let notifications: QueueTap;

beforeAll(async () => {
  idp = await startTestIdentityProvider();
  await migrateOrders(infra);
  orders = await buildTestOrders(infra, idp);
  messaging = await startTestMessaging();
  notifications = new QueueTap(messaging, 'notifications');
  worker = await startTestWorker(infra, messaging);
});
afterAll(async () => {
  await worker?.stop();
  await notifications?.stop();
  await messaging?.close();
  await orders?.close();
  await idp?.close();
});

async function placeOrder(customerId = `customer-${randomUUID()}`) {
  const submitted = submittedEvent(customerId);
  await orders.place(submitted);
  return { orderId: submitted.data.orderId, customerId };
}

const publish = (...facts: CloudEvent[]) => messaging.publisher.publish(messaging.addresses.topicArns['fulfillment-events'], facts);

/** Straight onto the queue, as SQS does when it delivers a message more than once. */
const deliver = (fact: CloudEvent) =>
  messaging.clients.sqs.send(new SendMessageCommand({ QueueUrl: messaging.addresses.queueUrls['orders-fulfillment-updates'], MessageBody: JSON.stringify(fact) }));

const statusOf = async (orderId: string) => (await storedOrder(orders.sql, orderId)).order?.status;

const untilStatus = (orderId: string, status: string) =>
  waitFor(async () => (await statusOf(orderId)) === status, { timeoutMs: 15_000, what: `order ${orderId} to be ${status}` });

async function untilProcessed(eventId: string) {
  await waitFor(
    async () => (await orders.sql.query('select 1 from orders.processed_events where event_id = $1', [eventId])).rowCount === 1,
    { timeoutMs: 10_000, what: `event ${eventId} to be processed` },
  );
}

/** Waits until the worker has refused a fact about this order at least once (it comes back later). */
const untilRetried = (orderId: string) =>
  waitFor(() => worker.logs.some((l) => String(l.msg).startsWith('message deferred') && String(l.msg).includes(orderId)), {
    timeoutMs: 10_000,
    what: `a failed attempt for ${orderId}`,
  });

const handled = (name: string) => worker.fulfillmentUpdates.stats.handled[`com.securecart.${name}`] ?? 0;
const logsAbout = (eventId: string) => worker.logs.filter((l) => l.eventId === eventId);

describe('fulfillment facts', () => {
  it('move an order PLACED → CONFIRMED → SHIPPED, with history rows and order.confirmed and order.shipped on the notifications queue', async () => {
    const { orderId, customerId } = await placeOrder();
    const reserved = createEvent({ name: 'inventory.reserved', source: 'fulfillment', subject: orderId, data: { orderId, reservationId: 'res-1' } });
    const captured = factEvent('payment.captured', { orderId, paymentId: 'pay-1', amountCents: 3700, currency: 'USD' });
    await publish(reserved, captured);
    await untilStatus(orderId, 'CONFIRMED');
    const shipped = factEvent('shipment.created', { orderId, shipmentId: 'shp-1', carrier: 'UPS', trackingNumber: '1Z999AA10123456784' });
    await publish(shipped);
    await untilStatus(orderId, 'SHIPPED');

    expect(await storedOrder(orders.sql, orderId)).toEqual({
      order: { status: 'SHIPPED', version: 3, reason: null },
      history: ['PLACED', 'CONFIRMED', 'SHIPPED'],
      events: ['order.placed', 'order.confirmed', 'order.shipped'],
    });
    const [confirmedEvent, shippedEvent] = await waitFor(
      () => {
        const confirmed = notifications.about(orderId, 'order.confirmed');
        const ship = notifications.about(orderId, 'order.shipped');
        return confirmed.length > 0 && ship.length > 0 && [confirmed[0]!, ship[0]!];
      },
      { timeoutMs: 10_000, what: 'order.confirmed and order.shipped on the notifications queue' },
    );
    expect(confirmedEvent).toMatchObject({
      source: '/securecart/orders-worker',
      subject: orderId,
      correlationid: captured.correlationid,
      traceparent: captured.traceparent,
      data: { orderId, customerId, contact: { email: 'ada@example.com' }, totalCents: 3700, currency: 'USD' },
    });
    expect(shippedEvent).toMatchObject({
      source: '/securecart/orders-worker',
      correlationid: shipped.correlationid,
      traceparent: shipped.traceparent,
      data: { orderId, customerId, contact: { email: 'ada@example.com' }, carrier: 'UPS', trackingNumber: '1Z999AA10123456784' },
    });
    // inventory.reserved changes no status: the queue's filter keeps it away from the worker
    expect(logsAbout(reserved.id)).toEqual([]);
    expect((await orders.sql.query('select 1 from orders.processed_events where event_id = $1', [reserved.id])).rowCount).toBe(0);
  });

  it('ends SHIPPED when shipment.created arrives before payment.captured: the early fact is retried until it applies', async () => {
    const { orderId } = await placeOrder();
    const deferredBefore = worker.fulfillmentUpdates.stats.deferred['com.securecart.shipment.created'] ?? 0;
    const failedBefore = worker.fulfillmentUpdates.stats.failed['com.securecart.shipment.created'] ?? 0;
    await publish(factEvent('shipment.created', { orderId, shipmentId: 'shp-2', carrier: 'DHL', trackingNumber: 'JD0002' }));
    await untilRetried(orderId);
    expect(await statusOf(orderId)).toBe('PLACED');
    // came too early: retry later, counted queue_messages_total{outcome="retry_later"}, not as a failure to alert on
    expect(worker.fulfillmentUpdates.stats.deferred['com.securecart.shipment.created']).toBeGreaterThan(deferredBefore);
    expect(worker.fulfillmentUpdates.stats.failed['com.securecart.shipment.created'] ?? 0).toBe(failedBefore);
    expect(worker.logs.find((l) => String(l.msg).startsWith('message deferred') && String(l.msg).includes(orderId))).toMatchObject({ level: 30 });

    await publish(factEvent('payment.captured', { orderId, paymentId: 'pay-2', amountCents: 3700, currency: 'USD' }));
    await untilStatus(orderId, 'SHIPPED');
    const stored = await storedOrder(orders.sql, orderId);
    expect(stored.history).toEqual(['PLACED', 'CONFIRMED', 'SHIPPED']);
    expect(stored.events).toEqual(['order.placed', 'order.confirmed', 'order.shipped']);
  });

  it('retries a fact about an order intake has not placed yet, and applies it once the order is placed', async () => {
    const customerId = `customer-${randomUUID()}`;
    const submitted = submittedEvent(customerId);
    const orderId = submitted.data.orderId;
    const captured = factEvent('payment.captured', { orderId, paymentId: 'pay-3', amountCents: 3700, currency: 'USD' });
    await publish(captured);
    await untilRetried(orderId);
    expect(await storedOrder(orders.sql, orderId)).toMatchObject({ order: undefined, history: [] });

    await orders.place(submitted);
    await untilStatus(orderId, 'CONFIRMED');
    await untilProcessed(captured.id);
    expect((await storedOrder(orders.sql, orderId)).history).toEqual(['PLACED', 'CONFIRMED']);
  });

  it('applies each fact once however often it is delivered: one transition, one history row, one outbox event each', async () => {
    const { orderId } = await placeOrder();
    const captured = factEvent('payment.captured', { orderId, paymentId: 'pay-4', amountCents: 3700, currency: 'USD' });
    const shipped = factEvent('shipment.created', { orderId, shipmentId: 'shp-4', carrier: 'UPS', trackingNumber: 'T4' });
    const before = { captured: handled('payment.captured'), shipped: handled('shipment.created') };

    await deliver(captured);
    await deliver(captured);
    await untilStatus(orderId, 'CONFIRMED');
    await deliver(shipped);
    await deliver(shipped);
    await waitFor(() => handled('payment.captured') >= before.captured + 2 && handled('shipment.created') >= before.shipped + 2, {
      timeoutMs: 10_000,
      what: 'both deliveries of both facts',
    });

    expect(await storedOrder(orders.sql, orderId)).toEqual({
      order: { status: 'SHIPPED', version: 3, reason: null },
      history: ['PLACED', 'CONFIRMED', 'SHIPPED'],
      events: ['order.placed', 'order.confirmed', 'order.shipped'],
    });
    expect(logsAbout(captured.id).map((l) => l.outcome).sort()).toEqual(['duplicate', 'transition']);
    expect(logsAbout(shipped.id).map((l) => l.outcome).sort()).toEqual(['duplicate', 'transition']);
  });

  it('rejects a PLACED order on fulfillment.failed, keeping the reason, and sends order.rejected', async () => {
    const { orderId, customerId } = await placeOrder();
    const failed = factEvent('fulfillment.failed', { orderId, step: 'capture-payment', reason: 'payment declined' });
    await publish(failed);
    await untilStatus(orderId, 'REJECTED');
    expect(await storedOrder(orders.sql, orderId)).toEqual({
      order: { status: 'REJECTED', version: 2, reason: 'payment declined' },
      history: ['PLACED', 'REJECTED'],
      events: ['order.placed', 'order.rejected'],
    });
    const [rejected] = await waitFor(() => notifications.about(orderId, 'order.rejected').length > 0 && notifications.about(orderId, 'order.rejected'), {
      timeoutMs: 10_000,
      what: 'order.rejected on the notifications queue',
    });
    expect(rejected).toMatchObject({
      correlationid: failed.correlationid,
      data: { orderId, customerId, contact: { email: 'ada@example.com' }, reason: 'payment declined' },
    });
  });

  it('refunds a CONFIRMED order on fulfillment.failed (the shipment failed after the capture), with order.refunded for the whole total', async () => {
    const { orderId, customerId } = await placeOrder();
    await publish(factEvent('payment.captured', { orderId, paymentId: 'pay-6', amountCents: 3700, currency: 'USD' }));
    await untilStatus(orderId, 'CONFIRMED');
    await publish(factEvent('fulfillment.failed', { orderId, step: 'create-shipment', reason: 'no carrier serves the address' }));
    await untilStatus(orderId, 'REFUNDED');
    expect(await storedOrder(orders.sql, orderId)).toEqual({
      order: { status: 'REFUNDED', version: 3, reason: 'no carrier serves the address' },
      history: ['PLACED', 'CONFIRMED', 'REFUNDED'],
      events: ['order.placed', 'order.confirmed', 'order.refunded'],
    });
    const [refunded] = await waitFor(() => notifications.about(orderId, 'order.refunded').length > 0 && notifications.about(orderId, 'order.refunded'), {
      timeoutMs: 10_000,
      what: 'order.refunded on the notifications queue',
    });
    expect(refunded!.data).toEqual({ orderId, customerId, contact: { email: 'ada@example.com' }, amountCents: 3700, currency: 'USD' });
  });

  it('ends REFUNDED, not REJECTED, when a shipment failure arrives before its payment.captured: the early fact is retried', async () => {
    const { orderId } = await placeOrder();
    await publish(factEvent('fulfillment.failed', { orderId, step: 'create-shipment', reason: 'no carrier serves the address' }));
    await untilRetried(orderId);
    expect(await statusOf(orderId)).toBe('PLACED');

    await publish(factEvent('payment.captured', { orderId, paymentId: 'pay-7', amountCents: 3700, currency: 'USD' }));
    await untilStatus(orderId, 'REFUNDED');
    expect(await storedOrder(orders.sql, orderId)).toEqual({
      order: { status: 'REFUNDED', version: 3, reason: 'no carrier serves the address' },
      history: ['PLACED', 'CONFIRMED', 'REFUNDED'],
      events: ['order.placed', 'order.confirmed', 'order.refunded'],
    });
  });

  it('acknowledges fulfillment.failed for a CANCELLED order without a change, and logs why', async () => {
    const { orderId, customerId } = await placeOrder();
    const auth = `Bearer ${await idp.token(customerId)}`;
    expect((await orders.app.inject({ method: 'POST', url: `/api/orders/${orderId}/cancel`, headers: { authorization: auth } })).statusCode).toBe(200);
    const before = await storedOrder(orders.sql, orderId);
    const failed = factEvent('fulfillment.failed', { orderId, step: 'reserve-stock', reason: 'out of stock' });
    await publish(failed);
    await untilProcessed(failed.id);

    expect(await storedOrder(orders.sql, orderId)).toEqual(before);
    expect(logsAbout(failed.id)).toEqual([
      expect.objectContaining({ orderId, type: 'fulfillment.failed', outcome: 'stale', status: 'CANCELLED', msg: 'fact no longer applies: acknowledged' }),
    ]);
    expect(worker.logs.some((l) => /^message (failed|deferred)/.test(String(l.msg)) && String(l.msg).includes(orderId))).toBe(false);
  });

  it('acknowledges a second payment.captured for an order already CONFIRMED (a new event id, the same capture) without a second transition', async () => {
    const { orderId } = await placeOrder();
    await publish(factEvent('payment.captured', { orderId, paymentId: 'pay-8', amountCents: 3700, currency: 'USD' }));
    await untilStatus(orderId, 'CONFIRMED');
    const again = factEvent('payment.captured', { orderId, paymentId: 'pay-8', amountCents: 3700, currency: 'USD' });
    await publish(again);
    await untilProcessed(again.id);
    expect((await storedOrder(orders.sql, orderId)).history).toEqual(['PLACED', 'CONFIRMED']);
    expect(logsAbout(again.id)).toEqual([expect.objectContaining({ outcome: 'stale', status: 'CONFIRMED' })]);
  });

  it('acknowledges an inventory.reserved left in the queue from before its subscription ended, writing nothing', async () => {
    const { orderId } = await placeOrder();
    const reserved = createEvent({ name: 'inventory.reserved', source: 'fulfillment', subject: orderId, data: { orderId, reservationId: 'res-old' } });
    const before = handled('inventory.reserved');
    await deliver(reserved);
    await waitFor(() => handled('inventory.reserved') > before, { timeoutMs: 10_000, what: 'the leftover inventory.reserved handled' });
    expect(logsAbout(reserved.id)).toEqual([expect.objectContaining({ outcome: 'ignored' })]);
    expect(worker.fulfillmentUpdates.stats.failed['com.securecart.inventory.reserved']).toBeUndefined();
    expect((await orders.sql.query('select 1 from orders.processed_events where event_id = $1', [reserved.id])).rowCount).toBe(0);
    expect(await storedOrder(orders.sql, orderId)).toMatchObject({ order: { status: 'PLACED', version: 1 }, history: ['PLACED'] });
  });

  it('records fulfillment.compensated as processed without changing the status', async () => {
    const { orderId } = await placeOrder();
    const compensated = factEvent('fulfillment.compensated', { orderId, voidedPayment: false, releasedStock: true });
    await publish(compensated);
    await untilProcessed(compensated.id);
    expect(await storedOrder(orders.sql, orderId)).toEqual({
      order: { status: 'PLACED', version: 1, reason: null },
      history: ['PLACED'],
      events: ['order.placed'],
    });
  });
});

describe('a fact’s transition, one statement (updateStatusForFact)', () => {
  const confirmed = (orderId: string) => ({ id: orderId, to: 'CONFIRMED' as const, reason: null });
  const orderConfirmed = (orderId: string, customerId: string) =>
    createEvent({ name: 'order.confirmed', source: 'orders-worker', subject: orderId, data: { orderId, customerId, contact: {}, totalCents: 3700, currency: 'USD' } });
  const processed = async (eventId: string) => (await orders.sql.query('select 1 from orders.processed_events where event_id = $1', [eventId])).rowCount;

  it('writes the status, its history row, its event and the fact as processed together', async () => {
    const { orderId, customerId } = await placeOrder();
    const fact = factEvent('payment.captured', { orderId, paymentId: 'pay-s1', amountCents: 3700, currency: 'USD' });
    const history = await updateStatusForFact(drizzle(orders.sql), { ...confirmed(orderId), expectedVersion: 1 }, orderConfirmed(orderId, customerId), fact);
    expect(history).toEqual({ id: expect.any(Number), orderId, status: 'CONFIRMED', reason: null, at: expect.any(Date) });
    expect(await storedOrder(orders.sql, orderId)).toEqual({
      order: { status: 'CONFIRMED', version: 2, reason: null },
      history: ['PLACED', 'CONFIRMED'],
      events: ['order.placed', 'order.confirmed'],
    });
    expect(await processed(fact.id)).toBe(1);
  });

  it('writes nothing when the order moved on since it was read, or the fact has been processed', async () => {
    const { orderId, customerId } = await placeOrder();
    const fact = factEvent('payment.captured', { orderId, paymentId: 'pay-s2', amountCents: 3700, currency: 'USD' });
    const db = drizzle(orders.sql);
    // read at version 1, but a cancel got there first (version 2)
    await orders.sql.query("update orders.orders set status = 'CANCELLED', version = 2 where id = $1", [orderId]);
    expect(await updateStatusForFact(db, { ...confirmed(orderId), expectedVersion: 1 }, orderConfirmed(orderId, customerId), fact)).toBeUndefined();
    expect(await processed(fact.id)).toBe(0);
    // at the version, but the fact was processed meanwhile
    await orders.sql.query('insert into orders.processed_events (event_id, type) values ($1, $2)', [fact.id, fact.type]);
    expect(await updateStatusForFact(db, { ...confirmed(orderId), expectedVersion: 2 }, orderConfirmed(orderId, customerId), fact)).toBeUndefined();
    expect(await storedOrder(orders.sql, orderId)).toEqual({
      order: { status: 'CANCELLED', version: 2, reason: null },
      history: ['PLACED'],
      events: ['order.placed'],
    });
  });
});

/**
 * The fulfillment saga end to end on real infrastructure: order.placed / order.cancelled published on the real
 * order-events topic (fauxqs), the worker as startFulfillmentWorker runs it, the catalog's internal API over HTTP,
 * Postgres and Redis; facts read back from a queue subscribed to the real fulfillment-events topic.
 */
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestIdentityProvider, waitFor, type TestIdentityProvider } from '@securecart/testing';
import { loadFulfillmentConfig } from '../src/config.ts';
import { startFulfillmentWorker, type FulfillmentWorker } from '../src/worker.ts';
import { cancelledEvent, placedEvent, startFulfillmentRig, type FulfillmentRig } from './harness.ts';

const infra = inject('infra');
let idp: TestIdentityProvider;
let rig: FulfillmentRig;
let worker: FulfillmentWorker;

beforeAll(async () => {
  idp = await startTestIdentityProvider();
  rig = await startFulfillmentRig(infra, idp);
  worker = await startFulfillmentWorker(loadFulfillmentConfig(rig.workerEnv({ FRAUD_MAX_ORDER_CENTS: '100000', FRAUD_VELOCITY_MAX: '3' })));
});
afterAll(async () => {
  await worker?.stop();
  await rig?.close();
  await idp?.close();
});

const ended = (orderId: string, status = 'COMPLETED') =>
  waitFor(async () => (await rig.saga(orderId))?.status === status, { timeoutMs: 20_000, what: `saga of ${orderId} to be ${status}` });
const factsArrived = (orderId: string, facts: string[]) =>
  waitFor(() => facts.every((f) => rig.facts(orderId).includes(f)), { timeoutMs: 10_000, what: `${facts.join(', ')} for ${orderId}` });

describe('the happy path', () => {
  it('reserves, captures, ships and commits, publishing one fact per step in order', async () => {
    const product = await rig.product(5);
    const placed = placedEvent(product, { quantity: 2 });
    await rig.publish(placed);
    await ended(placed.data.orderId);
    await factsArrived(placed.data.orderId, ['inventory.reserved', 'payment.captured', 'shipment.created']);
    expect(rig.facts(placed.data.orderId)).toEqual(['inventory.reserved', 'payment.captured', 'shipment.created']);
    const shipped = rig.updates.about(placed.data.orderId, 'shipment.created')[0]!;
    expect(shipped.data).toMatchObject({ orderId: placed.data.orderId, carrier: 'SimPost', trackingNumber: expect.stringMatching(/^SP\d{12}$/) });
    expect(shipped.correlationid).toBe(placed.correlationid);
    expect(shipped.traceparent).toBe(placed.traceparent);
    expect(rig.updates.about(placed.data.orderId, 'payment.captured')[0]!.data).toMatchObject({ amountCents: 3000, currency: 'EUR' });
    expect(await rig.stock(product)).toBe(3);
    expect(await rig.reservation(placed.data.orderId)).toMatchObject({ status: 'COMMITTED' });
    expect(await rig.captures(placed.data.orderId)).toEqual([expect.objectContaining({ status: 'captured', attempts: 1 })]);
    // the token is only kept until the saga ends, and the lease is given up with the last save
    expect(await rig.saga(placed.data.orderId)).toMatchObject({ paymentToken: null, leaseOwner: null, leaseUntil: null });
  });

  it('does nothing more when order.placed is delivered again after the saga ended', async () => {
    const product = await rig.product(5);
    const placed = placedEvent(product);
    await rig.publish(placed);
    await ended(placed.data.orderId);
    await factsArrived(placed.data.orderId, ['shipment.created']);
    await rig.publish(placed);
    await rig.publish(placed);
    await waitFor(() => (worker.consumer.stats.handled['com.securecart.order.placed'] ?? 0) >= 3, { timeoutMs: 10_000, what: 'the repeats handled' });
    expect(await rig.stock(product)).toBe(4);
    expect(await rig.captures(placed.data.orderId)).toHaveLength(1);
    expect(rig.facts(placed.data.orderId)).toEqual(['inventory.reserved', 'payment.captured', 'shipment.created']);
  });

  it('run again from its start after its saves were lost (a crash before each save): the same reservation, capture and shipment', async () => {
    // Steps save only where the customer can see it (captured; shipped and committed), so a crash repeats the steps
    // since the last save: each outside call must return its first effect when repeated, the commit included.
    const product = await rig.product(5);
    const placed = placedEvent(product, { quantity: 2 });
    const { orderId } = placed.data;
    await rig.publish(placed);
    await ended(orderId);
    const first = (await rig.saga(orderId))!;
    await rig.sql.query(
      `update fulfillment.sagas set status = 'RUNNING', step = 'fraud', payment_token = 'tok_approve', reservation_id = null, payment_id = null,
         shipment_id = null, carrier = null, tracking_number = null, ended_at = null where order_id = $1`,
      [orderId],
    );
    await rig.publish(placed);
    await waitFor(async () => (await rig.saga(orderId))?.status === 'COMPLETED' && (await rig.saga(orderId))?.shipmentId !== null, {
      timeoutMs: 20_000,
      what: 'the saga run again to its end',
    });
    expect(await rig.saga(orderId)).toMatchObject({
      reservationId: first.reservationId, paymentId: first.paymentId, shipmentId: first.shipmentId, trackingNumber: first.trackingNumber,
    });
    expect(await rig.stock(product)).toBe(3);
    expect(await rig.reservation(orderId)).toMatchObject({ status: 'COMMITTED' });
    expect(await rig.captures(orderId)).toEqual([expect.objectContaining({ status: 'captured', attempts: 1, paymentId: first.paymentId })]);
    const shipments = await rig.sql.query('select count(*)::int as n from fulfillment.simulated_shipments where order_id = $1', [orderId]);
    expect(shipments.rows[0].n).toBe(1);
  });
});

describe('payment outcomes (the simulated gateway’s test tokens)', () => {
  it('tok_decline: rejected at capture-payment, the stock released, nothing captured', async () => {
    const product = await rig.product(4);
    const placed = placedEvent(product, { quantity: 3, paymentToken: 'tok_decline' });
    await rig.publish(placed);
    await ended(placed.data.orderId, 'FAILED');
    await factsArrived(placed.data.orderId, ['fulfillment.failed']);
    expect(rig.facts(placed.data.orderId)).toEqual(['inventory.reserved', 'fulfillment.failed']);
    expect(rig.updates.about(placed.data.orderId, 'fulfillment.failed')[0]!.data).toEqual({
      orderId: placed.data.orderId,
      step: 'capture-payment',
      reason: 'payment declined by the gateway',
    });
    expect(await rig.stock(product)).toBe(4);
    expect(await rig.reservation(placed.data.orderId)).toMatchObject({ status: 'RELEASED' });
    expect((await rig.captures(placed.data.orderId)).filter((c) => c.paymentId)).toHaveLength(0);
  });

  it('an unknown token is declined like tok_decline', async () => {
    const placed = placedEvent(await rig.product(1), { paymentToken: 'tok_made_up' });
    await rig.publish(placed);
    await ended(placed.data.orderId, 'FAILED');
    expect((await rig.saga(placed.data.orderId))!.failedStep).toBe('capture-payment');
  });

  it('tok_transient: two transient failures are retried with backoff, then exactly one capture and shipped', async () => {
    const placed = placedEvent(await rig.product(2), { paymentToken: 'tok_transient' });
    await rig.publish(placed);
    await ended(placed.data.orderId);
    const captures = await rig.captures(placed.data.orderId);
    expect(captures).toEqual([expect.objectContaining({ status: 'captured', attempts: 3 })]);
    await factsArrived(placed.data.orderId, ['shipment.created']);
    expect(rig.facts(placed.data.orderId).filter((f) => f === 'payment.captured')).toHaveLength(1);
  });

  it('tok_timeout: the capture whose answer was lost is found again by its key, not made twice', async () => {
    const placed = placedEvent(await rig.product(2), { paymentToken: 'tok_timeout' });
    await rig.publish(placed);
    await ended(placed.data.orderId);
    expect(await rig.captures(placed.data.orderId)).toEqual([expect.objectContaining({ status: 'captured', attempts: 1 })]);
  });
});

describe('other permanent failures compensate in reverse', () => {
  it('no stock: rejected at reserve-stock, nothing captured', async () => {
    const product = await rig.product(1);
    const placed = placedEvent(product, { quantity: 2 });
    await rig.publish(placed);
    await ended(placed.data.orderId, 'FAILED');
    await factsArrived(placed.data.orderId, ['fulfillment.failed']);
    const failed = rig.updates.about(placed.data.orderId, 'fulfillment.failed')[0]!;
    expect(failed.data).toMatchObject({ step: 'reserve-stock', reason: expect.stringMatching(/2 wanted, 1 left/) });
    expect(await rig.stock(product)).toBe(1);
    expect(await rig.captures(placed.data.orderId)).toHaveLength(0);
  });

  it('an undeliverable address (postal code 00000): rejected at create-shipment, the payment voided, the stock released', async () => {
    const product = await rig.product(3);
    const placed = placedEvent(product, { postalCode: '00000' });
    await rig.publish(placed);
    await ended(placed.data.orderId, 'FAILED');
    await factsArrived(placed.data.orderId, ['fulfillment.failed']);
    expect(rig.facts(placed.data.orderId)).toEqual(['inventory.reserved', 'payment.captured', 'fulfillment.failed']);
    expect(await rig.captures(placed.data.orderId)).toEqual([expect.objectContaining({ status: 'voided' })]);
    expect(await rig.stock(product)).toBe(3);
    expect(await rig.saga(placed.data.orderId)).toMatchObject({ failedStep: 'create-shipment', paymentVoided: true, stockReleased: true, leaseOwner: null });
  });

  it('the fraud check refuses an order over the amount limit before anything is reserved', async () => {
    const product = await rig.product(100);
    const placed = placedEvent(product, { quantity: 70 }); // 105,000 > 100,000
    await rig.publish(placed);
    await ended(placed.data.orderId, 'FAILED');
    expect(await rig.saga(placed.data.orderId)).toMatchObject({ failedStep: 'fraud', failureReason: expect.stringMatching(/exceeds the limit/) });
    expect(await rig.reservation(placed.data.orderId)).toBeUndefined();
    expect(await rig.stock(product)).toBe(100);
  });

  it('the fraud check refuses a customer’s fourth order within the window (velocity, counted in Redis)', async () => {
    const product = await rig.product(10);
    const customerId = `fast-${Date.now()}`;
    const orders = Array.from({ length: 4 }, () => placedEvent(product, { customerId }));
    for (const placed of orders) {
      await rig.publish(placed);
      await waitFor(async () => ['COMPLETED', 'FAILED'].includes((await rig.saga(placed.data.orderId))?.status ?? ''), {
        timeoutMs: 20_000,
        what: 'the saga to end',
      });
    }
    const statuses = await Promise.all(orders.map(async (o) => (await rig.saga(o.data.orderId))!.status));
    expect(statuses).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED', 'FAILED']);
    expect((await rig.saga(orders[3]!.data.orderId))!.failureReason).toMatch(/4 orders by this customer/);
  });
});

describe('cancellation', () => {
  it('cancelled while waiting for the carrier: the payment is voided, the stock restored, fulfillment.compensated says so', async () => {
    const product = await rig.product(5);
    const placed = placedEvent(product, { quantity: 2, postalCode: '00001' }); // the carrier keeps answering "try later"
    await rig.publish(placed);
    await waitFor(async () => (await rig.saga(placed.data.orderId))?.step === 'create-shipment', { timeoutMs: 10_000, what: 'the saga to wait on the carrier' });
    expect(await rig.stock(product)).toBe(3);
    await rig.publish(cancelledEvent(placed));
    await ended(placed.data.orderId, 'CANCELLED');
    await factsArrived(placed.data.orderId, ['fulfillment.compensated']);
    expect(rig.updates.about(placed.data.orderId, 'fulfillment.compensated')[0]!.data).toEqual({
      orderId: placed.data.orderId,
      voidedPayment: true,
      releasedStock: true,
    });
    expect(await rig.stock(product)).toBe(5);
    expect(await rig.captures(placed.data.orderId)).toEqual([expect.objectContaining({ status: 'voided' })]);
    expect(await rig.reservation(placed.data.orderId)).toMatchObject({ status: 'RELEASED' });
  });

  it('a cancellation that overtakes its order.placed leaves a tombstone: the late order.placed reserves nothing', async () => {
    const product = await rig.product(5);
    const placed = placedEvent(product);
    await rig.publish(cancelledEvent(placed));
    await ended(placed.data.orderId, 'CANCELLED');
    await rig.publish(placed);
    await waitFor(() => (worker.consumer.stats.handled['com.securecart.order.placed'] ?? 0) > 0, { timeoutMs: 5_000, what: 'order.placed handled' });
    await factsArrived(placed.data.orderId, ['fulfillment.compensated']);
    // give the late order.placed its turn, then check it did nothing
    await waitFor(async () => rig.facts(placed.data.orderId).length === 1 && (await rig.saga(placed.data.orderId))?.status === 'CANCELLED', {
      timeoutMs: 5_000,
      what: 'the saga to stay cancelled',
    });
    expect(await rig.reservation(placed.data.orderId)).toBeUndefined();
    expect(await rig.stock(product)).toBe(5);
  });

  it('a cancellation after the saga failed changes nothing', async () => {
    const product = await rig.product(2);
    const placed = placedEvent(product, { paymentToken: 'tok_decline' });
    await rig.publish(placed);
    await ended(placed.data.orderId, 'FAILED');
    await rig.publish(cancelledEvent(placed));
    await waitFor(() => (worker.consumer.stats.handled['com.securecart.order.cancelled'] ?? 0) > 0, { timeoutMs: 10_000, what: 'the cancellation handled' });
    expect((await rig.saga(placed.data.orderId))!.status).toBe('FAILED');
    expect(await rig.stock(product)).toBe(2);
  });
});

describe('poison messages', () => {
  it('a message that is not a valid event reaches fulfillment-dlq after 5 receives while good orders keep flowing', async () => {
    // Zero backoff for this check: five receives in a second or two instead of 1+2+4+8 s.
    await worker.stop();
    worker = await startFulfillmentWorker(loadFulfillmentConfig(rig.workerEnv({ RETRY_BASE_SECONDS: '0' })));
    {
      await rig.messaging.clients.sqs.send(
        new SendMessageCommand({ QueueUrl: rig.messaging.addresses.queueUrls.fulfillment, MessageBody: '{"specversion":"1.0","type":"com.securecart.order.placed","data":{}}' }),
      );
      const good = placedEvent(await rig.product(1));
      await rig.publish(good);
      await ended(good.data.orderId);
      await waitFor(
        async () => {
          const r = await rig.messaging.clients.sqs.send(
            new ReceiveMessageCommand({ QueueUrl: rig.messaging.addresses.deadLetterQueueUrls.fulfillment, WaitTimeSeconds: 0, VisibilityTimeout: 30 }),
          );
          return (r.Messages ?? []).some((m) => m.Body?.includes('"data":{}'));
        },
        { timeoutMs: 25_000, intervalMs: 250, what: 'the poison message in fulfillment-dlq' },
      );
      expect(worker.consumer.stats.failed.unparsed).toBeGreaterThanOrEqual(5);
    }
  });
});

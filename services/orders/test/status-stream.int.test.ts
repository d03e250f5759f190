/**
 * The live status stream, GET /api/orders/:id/events, over real HTTP on real infrastructure: two orders app
 * instances on one Redis, the orders-worker applying fulfillment facts from fauxqs. A stream shows the current
 * status, then every change wherever it was made (the worker, another instance), once and in order, and ends after
 * the status that ends it; Redis pub/sub makes that immediate, and polling keeps it true while Redis is away.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectRedis } from '@securecart/cache';
import { startTestIdentityProvider, TcpProxy, waitFor, type TestIdentityProvider } from '@securecart/testing';
import type { CloudEvent } from '@securecart/messaging';
import { statusChannel } from '../src/status-feed.ts';
import {
  buildTestOrders, factEvent, migrateOrders, SseClient, startTestMessaging, startTestWorker, submittedEvent, type TestMessaging, type TestOrders,
  type TestWorker,
} from './harness.ts';

const infra = inject('infra');
let idp: TestIdentityProvider;
let messaging: TestMessaging;
let worker: TestWorker;
/** instance A: streams here are woken only by pub/sub (its polling is a minute apart, beyond every deadline below) */
let a: TestOrders;
let aUrl: string;
/** instance B: a short heartbeat and poll */
let b: TestOrders;
let bUrl: string;
const opened: { close(): unknown }[] = [];

beforeAll(async () => {
  idp = await startTestIdentityProvider();
  await migrateOrders(infra);
  messaging = await startTestMessaging();
  worker = await startTestWorker(infra, messaging);
  a = await buildTestOrders(infra, idp, { statusStream: { pollMs: 60_000, heartbeatMs: 60_000 } });
  aUrl = await a.listen();
  b = await buildTestOrders(infra, idp, { statusStream: { pollMs: 500, heartbeatMs: 100 } });
  bUrl = await b.listen();
});
afterAll(async () => {
  for (const thing of opened.reverse()) await thing.close();
  await a?.close();
  await b?.close();
  await worker?.stop();
  await messaging?.close();
  await idp?.close();
});

async function newCustomer() {
  const id = `customer-${randomUUID()}`;
  return { id, auth: `Bearer ${await idp.token(id)}` };
}

async function placeOrder(customerId: string, on: TestOrders = a): Promise<string> {
  const submitted = submittedEvent(customerId);
  await on.place(submitted);
  return submitted.data.orderId;
}

const publish = (...facts: CloudEvent[]) => messaging.publisher.publish(messaging.addresses.topicArns['fulfillment-events'], facts);
const captured = (orderId: string) => factEvent('payment.captured', { orderId, paymentId: `pay-${orderId}`, amountCents: 3700, currency: 'USD' });
const shipped = (orderId: string) => factEvent('shipment.created', { orderId, shipmentId: `shp-${orderId}`, carrier: 'UPS', trackingNumber: 'T1' });

async function stream(base: string, orderId: string, authorization: string | undefined, headers: Record<string, string> = {}) {
  const client = await SseClient.open(`${base}/api/orders/${orderId}/events`, authorization, headers);
  opened.push(client);
  return client;
}

const ids = (client: SseClient) => client.events.map((e) => Number(e.id));
const ended = (client: SseClient) => waitFor(() => client.endedByServer, { timeoutMs: 5_000, what: 'the server to end the stream' });

describe('GET /api/orders/:id/events', () => {
  it('sends the current status first, then each change made by the worker and by another instance, in order, and ends after the final status', async () => {
    const customer = await newCustomer();
    const orderId = await placeOrder(customer.id);
    const client = await stream(aUrl, orderId, customer.auth);
    expect(client.status).toBe(200);
    expect(client.headers['content-type']).toBe('text/event-stream');
    expect(client.headers['cache-control']).toBe('no-cache');
    expect(client.headers['x-accel-buffering']).toBe('no');
    expect(client.headers['x-content-type-options']).toBe('nosniff');
    const [first] = await client.untilEvents(1);
    expect(first).toEqual({ event: 'status', id: expect.stringMatching(/^\d+$/), data: { orderId, status: 'PLACED', reason: null, at: expect.any(String) } });

    await publish(captured(orderId)); // applied by the worker, announced on Redis
    await client.untilEvents(2);
    expect(client.statuses()).toEqual(['PLACED', 'CONFIRMED']);

    const cancel = await b.app.inject({ method: 'POST', url: `/api/orders/${orderId}/cancel`, headers: { authorization: customer.auth }, payload: { reason: 'changed my mind' } });
    expect(cancel.statusCode).toBe(200);
    await client.untilEvents(3);
    await ended(client);

    expect(client.statuses()).toEqual(['PLACED', 'CONFIRMED', 'CANCELLED']);
    expect(client.events[2]!.data).toMatchObject({ status: 'CANCELLED', reason: 'changed my mind' });
    expect(ids(client)).toEqual([...ids(client)].sort((x, y) => x - y));
    expect(new Set(ids(client)).size).toBe(3);
    // the same history GET /api/orders/:id shows
    const order = (await a.app.inject({ url: `/api/orders/${orderId}`, headers: { authorization: customer.auth } })).json();
    expect(order.statusHistory.map((h: { status: string; at: string }) => [h.status, h.at])).toEqual(client.events.map((e) => [e.data.status, e.data.at]));
  });

  it('ends the stream after SHIPPED', async () => {
    const customer = await newCustomer();
    const orderId = await placeOrder(customer.id);
    const client = await stream(aUrl, orderId, customer.auth);
    await client.untilEvents(1);
    await publish(captured(orderId));
    await client.untilEvents(2);
    await publish(shipped(orderId));
    await ended(client);
    expect(client.statuses()).toEqual(['PLACED', 'CONFIRMED', 'SHIPPED']);
  });

  it('resumes after Last-Event-ID with only the changes after that event, and answers 204 once the client has the final status', async () => {
    const customer = await newCustomer();
    const orderId = await placeOrder(customer.id);
    const first = await stream(aUrl, orderId, customer.auth);
    const [placed] = await first.untilEvents(1);
    first.close();
    await publish(captured(orderId));
    await waitFor(async () => (await a.sql.query('select status from orders.orders where id = $1', [orderId])).rows[0]?.status === 'CONFIRMED', {
      timeoutMs: 10_000,
      what: 'the order to be CONFIRMED',
    });

    const resumed = await stream(aUrl, orderId, customer.auth, { 'last-event-id': placed!.id });
    await resumed.untilEvents(1);
    expect(resumed.statuses()).toEqual(['CONFIRMED']);
    expect(Number(resumed.events[0]!.id)).toBeGreaterThan(Number(placed!.id));
    await publish(shipped(orderId));
    await ended(resumed);
    expect(resumed.statuses()).toEqual(['CONFIRMED', 'SHIPPED']);

    const after = await fetch(`${aUrl}/api/orders/${orderId}/events`, { headers: { authorization: customer.auth, 'last-event-id': resumed.events[1]!.id } });
    expect(after.status).toBe(204);
    // an id this order cannot have produced is not trusted: the stream starts at the current status
    const unknown = await stream(aUrl, orderId, customer.auth, { 'last-event-id': '999999999' });
    await ended(unknown);
    expect(unknown.statuses()).toEqual(['SHIPPED']);
  });

  it('sends heartbeat comments while nothing changes', async () => {
    const customer = await newCustomer();
    const orderId = await placeOrder(customer.id, b);
    const client = await stream(bUrl, orderId, customer.auth);
    await waitFor(() => client.comments.filter((c) => c === 'heartbeat').length >= 3, { timeoutMs: 5_000, what: 'three heartbeats' });
    expect(client.statuses()).toEqual(['PLACED']);
  });

  it('answers 404 to another customer and for an order that does not exist, 401 without a token, 400 for a malformed Last-Event-ID', async () => {
    const owner = await newCustomer();
    const stranger = await newCustomer();
    const orderId = await placeOrder(owner.id);
    const get = (id: string, headers: Record<string, string>) => a.app.inject({ url: `/api/orders/${id}/events`, headers });
    const others = await get(orderId, { authorization: stranger.auth });
    expect(others.statusCode).toBe(404);
    expect(others.headers['content-type']).toContain('application/problem+json');
    expect((await get(randomUUID(), { authorization: owner.auth })).statusCode).toBe(404);
    const admin = `Bearer ${await idp.token(`admin-${randomUUID()}`, { admin: true })}`;
    expect((await get(orderId, { authorization: admin })).statusCode).toBe(404); // the stream is the owner’s
    expect((await get(orderId, {})).statusCode).toBe(401);
    expect((await get(orderId, { authorization: owner.auth, 'last-event-id': 'yesterday' })).statusCode).toBe(400);
  });

  it('lets go of the Redis subscription when the client disconnects', async () => {
    const customer = await newCustomer();
    const orderId = await placeOrder(customer.id);
    const redis = await connectRedis(infra.redisUrl, { name: 'orders-test-numsub' });
    try {
      const subscribers = async () => Number(((await redis.pubsub('NUMSUB', statusChannel(infra.namespace, orderId))) as [string, number])[1]);
      const client = await stream(aUrl, orderId, customer.auth);
      await client.untilEvents(1);
      await waitFor(async () => (await subscribers()) === 1, { what: 'one subscriber on the order’s channel' });
      client.close();
      await waitFor(async () => (await subscribers()) === 0, { what: 'no subscriber left' });
    } finally {
      redis.disconnect();
    }
  });

  it('delivers a change made while Redis is unreachable through the polling fallback, and the change itself succeeds', async () => {
    const proxy = await TcpProxy.forUrl(infra.redisUrl).start();
    opened.push({ close: () => proxy.stop() });
    const c = await buildTestOrders(infra, idp, { redisUrl: proxy.rewrite(infra.redisUrl), statusStream: { pollMs: 300, heartbeatMs: 60_000 } });
    opened.push(c);
    const cUrl = await c.listen();
    const customer = await newCustomer();
    const orderId = await placeOrder(customer.id, c);
    const client = await stream(cUrl, orderId, customer.auth);
    await client.untilEvents(1);

    proxy.sever(); // this instance's Redis is gone: no pub/sub message can reach it, and its own publish fails
    const cancel = await c.app.inject({ method: 'POST', url: `/api/orders/${orderId}/cancel`, headers: { authorization: customer.auth } });
    expect(cancel.statusCode).toBe(200);
    await client.untilEvents(2);
    await ended(client);
    expect(client.statuses()).toEqual(['PLACED', 'CANCELLED']);
  });

  it('ends open streams when the app closes, so a graceful shutdown is not held up', async () => {
    const d = await buildTestOrders(infra, idp);
    const dUrl = await d.listen();
    const customer = await newCustomer();
    const orderId = await placeOrder(customer.id, d);
    const client = await stream(dUrl, orderId, customer.auth);
    await client.untilEvents(1);
    const started = Date.now();
    await d.close();
    expect(Date.now() - started).toBeLessThan(3_000);
    await ended(client);
    expect(client.statuses()).toEqual(['PLACED']);
  });
});

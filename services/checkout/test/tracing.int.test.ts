/**
 * Tracing end to end, as the ADOT collector sidecar would receive it: one checkout through checkout's app (its
 * request span continuing the caller's traceparent), SNS, and the orders-worker taking order.submitted from
 * orders-intake, all in ONE trace with each span the parent of the next. Spans go over OTLP/HTTP to a receiver
 * standing in for the collector.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadOrdersWorkerConfig, startOrdersWorker, type OrdersWorker } from '@securecart/orders';
import { startTracing, tracingEnabled, type Tracing } from '@securecart/telemetry';
import { startOtlpReceiver, startTestIdentityProvider, waitFor, type OtlpReceiver, type ReceivedSpan, type TestIdentityProvider } from '@securecart/testing';
import { startCheckoutWorld, type CheckoutWorld } from './harness.ts';

const infra = inject('infra');
let receiver: OtlpReceiver;
let tracing: Tracing;
let idp: TestIdentityProvider;
let world: CheckoutWorld;
let worker: OrdersWorker;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  // before the apps are built: createHttpApp adds its request spans only when tracing is on
  tracing = await startTracing({ serviceName: 'tracing-test', endpoint: receiver.endpoint });
  idp = await startTestIdentityProvider();
  world = await startCheckoutWorld(infra, idp);
  const config = loadOrdersWorkerConfig({
    DATABASE_URL: infra.databaseUrl,
    AWS_ENDPOINT_URL: world.fauxqsUrl,
    MESSAGING_PREFIX: world.prefix,
    OUTBOX_POLL_MS: '100',
    PROBE_PORT: '0',
    LOG_LEVEL: 'silent',
  });
  worker = await startOrdersWorker(config, { log: pino({ level: 'silent' }) });
});
afterAll(async () => {
  await worker?.stop();
  await world?.close();
  await idp?.close();
  await tracing?.shutdown();
  await receiver?.close();
});

async function checkout(traceparent: string): Promise<string> {
  const admin = { authorization: `Bearer ${await idp.token('admin-1', { admin: true })}` };
  const n = randomUUID().slice(0, 8);
  const created = await world.catalog.inject({
    method: 'POST', url: '/api/catalog/products', headers: admin,
    payload: { sku: `TR-${n}`, slug: `traced-${n}`, name: `Traced thing ${n}`, priceCents: 990, category: 'tracing-tests', stock: 10 },
  });
  expect(created.statusCode, created.body).toBe(201);
  const headers = { authorization: `Bearer ${await idp.token(`cust-${randomUUID()}`, { email: 'buyer@example.com' })}` };
  const put = await world.checkout.inject({ method: 'PUT', url: `/api/cart/items/${created.json<{ id: string }>().id}`, headers, payload: { quantity: 1 } });
  expect(put.statusCode, put.body).toBe(200);
  const res = await world.checkout.inject({
    method: 'POST', url: '/api/checkout', headers: { ...headers, 'idempotency-key': `trace-${n}`, traceparent },
    payload: { shippingAddress: { name: 'Ada Lovelace', line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' }, paymentToken: 'tok_approve', contact: { email: 'ada@example.com' } },
  });
  expect(res.statusCode, res.body).toBe(202);
  return res.json<{ orderId: string }>().orderId;
}

/** Waits until the receiver holds a span of `traceId` matching `match`, flushing the batch processor meanwhile. */
async function spanOf(traceId: string, what: string, match: (span: ReceivedSpan) => boolean): Promise<ReceivedSpan> {
  let found: ReceivedSpan | undefined;
  await waitFor(
    async () => {
      await tracing.flush();
      found = receiver.spans.find((span) => span.traceId === traceId && match(span));
      return found !== undefined;
    },
    { timeoutMs: 15_000, what: `${what} in trace ${traceId} (have: ${receiver.spans.map((s) => `${s.kind} ${s.name}`).join(', ') || 'none'})` },
  );
  return found!;
}

describe('tracing', () => {
  it('puts the checkout request, the publish of order.submitted and the orders-worker handling it in one trace, each under the one before', async () => {
    expect(tracingEnabled()).toBe(true);
    const traceId = randomUUID().replaceAll('-', '');
    const callerSpanId = '00f067aa0ba902b7';
    const orderId = await checkout(`00-${traceId}-${callerSpanId}-01`);

    const server = await spanOf(traceId, 'the checkout request span', (s) => s.kind === 'server' && s.name === 'POST /api/checkout');
    expect(server.parentSpanId).toBe(callerSpanId);
    expect(server.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/api/checkout', 'url.path': '/api/checkout', 'http.response.status_code': 202 });
    expect(server.status).toBe('unset');

    const producer = await spanOf(traceId, 'the publish of order.submitted', (s) => s.kind === 'producer' && s.attributes['cloudevents.event_type'] === 'com.securecart.order.submitted');
    expect(producer.parentSpanId).toBe(server.spanId);
    expect(producer.attributes).toMatchObject({ 'messaging.system': 'aws_sns', 'messaging.destination.name': `${world.prefix}checkout-events` });

    const consumer = await spanOf(traceId, 'the orders-worker handling order.submitted', (s) => s.kind === 'consumer' && s.attributes['cloudevents.event_type'] === 'com.securecart.order.submitted');
    expect(consumer.parentSpanId).toBe(producer.spanId);
    expect(consumer.name).toBe('process orders-intake');
    expect(consumer.attributes).toMatchObject({ 'messaging.system': 'aws_sqs', 'messaging.destination.name': 'orders-intake', 'messaging.message.id': expect.any(String) });
    expect(consumer.status).toBe('unset');

    // and order.placed, published by the outbox relay later, carries the trace on under the consumer's span
    const placed = await spanOf(traceId, 'the publish of order.placed', (s) => s.kind === 'producer' && s.attributes['cloudevents.event_type'] === 'com.securecart.order.placed');
    expect(placed.parentSpanId).toBe(consumer.spanId);
    expect(placed.attributes['messaging.destination.name']).toBe(`${world.prefix}order-events`);
    expect(orderId).toEqual(expect.any(String));
  });
});

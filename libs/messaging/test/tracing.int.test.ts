/**
 * Spans of the publisher and the consumer with tracing on (fauxqs, a test OTLP receiver): the published message
 * carries its producer span's traceparent; a message is handled inside a consumer span under it, failed if the
 * handler throws; a batch is handled inside one span linked to each of its events.
 */
import { randomUUID } from 'node:crypto';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentTraceparent, parseTraceparent, startTracing, type Tracing } from '@securecart/telemetry';
import { startOtlpReceiver, waitFor, type OtlpReceiver, type ReceivedSpan } from '@securecart/testing';
import {
  bootstrapTopology, createAwsClients, createEvent, destroyAwsClients, drainQueue, QueueConsumer, SnsPublisher, type AwsClients, type MessagingAddresses,
} from '../src/index.ts';

let fauxqs: Awaited<ReturnType<typeof startFauxqs>>;
let clients: AwsClients;
let addresses: MessagingAddresses;
let receiver: OtlpReceiver;
let tracing: Tracing;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  tracing = await startTracing({ serviceName: 'messaging-test', endpoint: receiver.endpoint });
  fauxqs = await startFauxqs({ port: 0, logger: false });
  clients = createAwsClients({ region: 'us-east-1', endpoint: fauxqs.address });
  addresses = await bootstrapTopology(clients, { prefix: 'tr-' });
});
afterAll(async () => {
  if (clients) destroyAwsClients(clients);
  await fauxqs?.stop();
  await tracing?.shutdown();
  await receiver?.close();
});

const traceparentOf = (traceId: string) => `00-${traceId}-${randomUUID().replaceAll('-', '').slice(0, 16)}-01`;
const newTraceId = () => randomUUID().replaceAll('-', '');
const cancelled = (traceparent: string) =>
  createEvent({ name: 'order.cancelled', source: 'orders-worker', subject: randomUUID(), traceparent, data: { orderId: randomUUID(), customerId: 'c-1', contact: {}, reason: 'changed my mind' } });

async function spans(what: string, match: (span: ReceivedSpan) => boolean, count = 1): Promise<ReceivedSpan[]> {
  await waitFor(
    async () => {
      await tracing.flush();
      return receiver.spans.filter(match).length >= count;
    },
    { timeoutMs: 10_000, what },
  );
  return receiver.spans.filter(match);
}

describe('tracing in messaging', () => {
  it('publishes each event under a producer span, and the message carries that span as its traceparent', async () => {
    const queueUrl = addresses.queueUrls.fulfillment;
    await drainQueue(clients, queueUrl, 100);
    const upstream = traceparentOf(newTraceId());
    const event = cancelled(upstream);
    await new SnsPublisher(clients).publish(addresses.topicArns['order-events'], [event]);
    const [message] = await drainQueue(clients, queueUrl);
    const carried = JSON.parse(message!.Body!).traceparent as string;
    expect(message!.MessageAttributes?.traceparent?.StringValue).toBe(carried);

    const [producer] = await spans('the producer span', (s) => s.kind === 'producer' && s.attributes['messaging.message.id'] === event.id);
    expect(carried).toBe(`00-${producer!.traceId}-${producer!.spanId}-01`);
    expect(producer).toMatchObject({ traceId: parseTraceparent(upstream)!.traceId, parentSpanId: parseTraceparent(upstream)!.spanId, name: 'publish tr-order-events' });
  });

  it('handles a message inside a consumer span under its traceparent, failed when the handler throws', async () => {
    const queueUrl = addresses.queueUrls.notifications;
    await drainQueue(clients, queueUrl, 100);
    const good = cancelled(traceparentOf(newTraceId()));
    const bad = cancelled(traceparentOf(newTraceId()));
    await clients.sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [good, bad].map((e, i) => ({ Id: String(i), MessageBody: JSON.stringify(e) })) }));
    const seen = new Map<string, string | undefined>();
    const consumer = new QueueConsumer({
      sqs: clients.sqs, queueUrl, queueName: 'notifications', pollers: 1, batchSize: 1, retryDelaySeconds: () => 60,
      handlers: {
        'order.cancelled': async (e) => {
          seen.set(e.id, currentTraceparent());
          if (e.id === bad.id) throw new Error('this one is bad');
        },
      },
    });
    consumer.start();
    try {
      const found = await spans('two consumer spans', (s) => s.kind === 'consumer' && [good.id, bad.id].includes(s.attributes['cloudevents.event_id'] as string), 2);
      for (const [event, status] of [[good, 'unset'], [bad, 'error']] as const) {
        const span = found.find((s) => s.attributes['cloudevents.event_id'] === event.id)!;
        const parent = parseTraceparent(event.traceparent)!;
        expect(span).toMatchObject({ name: 'process notifications', traceId: parent.traceId, parentSpanId: parent.spanId, status });
        expect(span.attributes).toMatchObject({ 'messaging.system': 'aws_sqs', 'messaging.destination.name': 'notifications', 'cloudevents.event_type': 'com.securecart.order.cancelled' });
        expect(seen.get(event.id)).toBe(`00-${span.traceId}-${span.spanId}-01`);
      }
    } finally {
      await consumer.stop();
    }
  });

  it('handles a batch inside one consumer span linked to each of its events', async () => {
    const queueUrl = addresses.queueUrls['orders-fulfillment-updates'];
    await drainQueue(clients, queueUrl, 100);
    // order.cancelled does not reach this queue by subscription; sent directly, a handler for it is all it needs
    const events = Array.from({ length: 5 }, () => cancelled(traceparentOf(newTraceId())));
    await clients.sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: events.map((e, i) => ({ Id: String(i), MessageBody: JSON.stringify(e) })) }));
    const batches: { ids: string[]; traceparent: string | undefined }[] = [];
    const consumer = new QueueConsumer({
      sqs: clients.sqs, queueUrl, queueName: 'updates', pollers: 1,
      handlers: { 'order.cancelled': async () => {} },
      batchHandlers: { 'order.cancelled': async (batch) => void batches.push({ ids: batch.map((e) => e.id), traceparent: currentTraceparent() }) },
    });
    consumer.start();
    try {
      await waitFor(() => batches.flatMap((b) => b.ids).length === events.length, { timeoutMs: 10_000, what: 'the events handled in batches' });
      const found = await spans('the batch spans', (s) => s.kind === 'consumer' && s.name === 'process updates', batches.length);
      const first = found.find((s) => batches[0]!.traceparent === `00-${s.traceId}-${s.spanId}-01`)!;
      expect(first.parentSpanId).toBeUndefined();
      expect(first.attributes['messaging.batch.message_count']).toBe(batches[0]!.ids.length);
      const linkedTraces = first.links.map((l) => l.traceId).sort();
      expect(linkedTraces).toEqual(events.filter((e) => batches[0]!.ids.includes(e.id)).map((e) => parseTraceparent(e.traceparent)!.traceId).sort());
    } finally {
      await consumer.stop();
    }
  });
});

/**
 * The messaging library on the real SQS/SNS wire protocol (fauxqs, embedded) and real Postgres: topology
 * bootstrap, filter policies, the outbox relay under concurrency and outage, consumers, DLQs, idempotency.
 */
import { randomUUID } from 'node:crypto';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { startFauxqs } from 'fauxqs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPool, inTransaction } from '@securecart/db';
import { TcpProxy, waitFor } from '@securecart/testing';
import {
  bootstrapTopology, createAwsClients, createEvent, destroyAwsClients, drainQueue, enqueueEvent, OutboxRelay, QueueConsumer,
  recordProcessed, SnsPublisher, topicArnsFromCopilot, type AwsClients, type CloudEvent, type MessagingAddresses,
} from '../src/index.ts';

const infra = inject('infra');
const SCHEMA = 'messaging_test';
let fauxqs: Awaited<ReturnType<typeof startFauxqs>>;
let clients: AwsClients;
let addresses: MessagingAddresses;
let pool: pg.Pool;
const cleanups: (() => Promise<unknown> | void)[] = [];

const order = () => ({
  orderId: randomUUID(), customerId: 'c-1', contact: { email: 'a@example.com' }, reason: 'changed my mind',
});

const drain = (queueUrl: string, quietMs = 500) => drainQueue(clients, queueUrl, quietMs);

beforeAll(async () => {
  fauxqs = await startFauxqs({ port: 0, logger: false });
  clients = createAwsClients({ region: 'us-east-1', endpoint: fauxqs.address });
  addresses = await bootstrapTopology(clients, { prefix: 't-' });
  pool = createPool(infra.databaseUrl, { name: 'messaging-test' });
  await pool.query(`create schema if not exists ${SCHEMA}`);
  // the DDL of outboxTable() and processedEventsTable(), as a service's migration creates it
  await pool.query(`create table if not exists ${SCHEMA}.outbox (id uuid primary key, topic text not null, type text not null, subject text not null,
    envelope jsonb not null, created_at timestamptz not null default now(), published_at timestamptz)`);
  await pool.query(`create table if not exists ${SCHEMA}.processed_events (event_id uuid primary key, type text not null, processed_at timestamptz not null default now())`);
  await pool.query(`create table if not exists ${SCHEMA}.effects (n serial primary key, event_id uuid not null)`);
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await pool?.end();
  if (clients) destroyAwsClients(clients);
  await fauxqs?.stop();
});

describe('topology', () => {
  it('bootstraps idempotently: a second run finds the same topics and queues', async () => {
    expect(await bootstrapTopology(clients, { prefix: 't-' })).toEqual(addresses);
    expect(Object.keys(addresses.queueUrls).sort()).toEqual(['fulfillment', 'notifications', 'orders-fulfillment-updates', 'orders-intake']);
  });

  it('routes each event type only to the queues whose filter lets it through, with its attributes', async () => {
    const publisher = new SnsPublisher(clients);
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const cancelled = createEvent({ name: 'order.cancelled', source: 'orders-worker', subject: randomUUID(), data: order(), traceparent, correlationId: 'corr-1' });
    const refunded = createEvent({ name: 'order.refunded', source: 'orders-worker', subject: randomUUID(), data: { orderId: randomUUID(), customerId: 'c', contact: {}, amountCents: 5, currency: 'USD' } });
    await publisher.publish(addresses.topicArns['order-events'], [cancelled, refunded]);

    const toFulfillment = await drain(addresses.queueUrls.fulfillment);
    const toNotifications = await drain(addresses.queueUrls.notifications);
    expect(toFulfillment.map((m) => JSON.parse(m.Body!).id)).toEqual([cancelled.id]); // placed, cancelled only
    expect(toNotifications.map((m) => JSON.parse(m.Body!).id).sort()).toEqual([cancelled.id, refunded.id].sort());
    const received = toFulfillment[0]!;
    expect(JSON.parse(received.Body!)).toEqual(cancelled); // raw delivery: the envelope itself
    expect(received.MessageAttributes?.type?.StringValue).toBe('com.securecart.order.cancelled');
    expect(received.MessageAttributes?.traceparent?.StringValue).toBe(traceparent);
    expect(JSON.parse(received.Body!)).toMatchObject({ specversion: '1.0', traceparent, correlationid: 'corr-1', source: '/securecart/orders-worker' });
  });

  it('refuses to create an event whose data does not match its schema', () => {
    expect(() => createEvent({ name: 'order.cancelled', source: 'x', subject: 'y', data: { orderId: 'not-a-uuid' } as never })).toThrow(/order.cancelled/);
  });

  it('reads topic ARNs from Copilot\'s injected map', () => {
    const env = { COPILOT_SNS_TOPIC_ARNS: JSON.stringify({ 'order-events': 'arn:aws:sns:eu-west-1:1:app-env-orders-order-events' }) };
    expect(topicArnsFromCopilot(env, ['order-events', 'checkout-events'])).toEqual({ 'order-events': 'arn:aws:sns:eu-west-1:1:app-env-orders-order-events' });
    expect(() => topicArnsFromCopilot({ COPILOT_SNS_TOPIC_ARNS: '[1]' }, ['order-events'])).toThrow(/JSON object/);
  });
});

describe('outbox relay', () => {
  async function enqueue(n: number): Promise<string[]> {
    const ids: string[] = [];
    const db = drizzle(pool);
    await inTransaction(db, async (tx) => {
      for (let i = 0; i < n; i++) {
        const event = createEvent({ name: 'order.cancelled', source: 'orders-worker', subject: randomUUID(), data: order() });
        ids.push(event.id);
        await enqueueEvent(tx, SCHEMA, event);
      }
    });
    return ids;
  }

  it('refuses to start without the ARN of a topic its process publishes, naming it', () => {
    const options = { db: drizzle(pool), schema: SCHEMA, publisher: new SnsPublisher(clients) };
    expect(() => new OutboxRelay({ ...options, topicArns: { 'catalog-events': addresses.topicArns['catalog-events'] }, owner: 'orders-worker' })).toThrow(
      /outbox relay of orders-worker: no ARN for order-events/,
    );
    expect(() => new OutboxRelay({ ...options, topicArns: { 'order-events': addresses.topicArns['order-events'] } })).toThrow(/no ARN for checkout-events, fulfillment-events, catalog-events/);
    expect(() => new OutboxRelay({ ...options, topicArns: addresses.topicArns, owner: 'nobody' })).toThrow(/no topic in the topology is published by nobody/);
    expect(() => new OutboxRelay({ ...options, topicArns: { 'order-events': addresses.topicArns['order-events'] }, owner: 'orders-worker' })).not.toThrow();
  });

  it('publishes the rows it can when some are for a topic it has no ARN for: those stay, the rest go', async () => {
    await drain(addresses.queueUrls.fulfillment, 200);
    await pool.query(`delete from ${SCHEMA}.outbox where published_at is null`);
    const stray = createEvent({ name: 'stock.changed', source: 'catalog', subject: randomUUID(), data: { productId: randomUUID(), stock: 3, reason: 'test' } });
    await inTransaction(drizzle(pool), (tx) => enqueueEvent(tx, SCHEMA, stray));
    const ids = await enqueue(3);
    const relay = new OutboxRelay({ db: drizzle(pool), schema: SCHEMA, publisher: new SnsPublisher(clients), topicArns: { 'order-events': addresses.topicArns['order-events'] }, owner: 'orders-worker' });
    await expect(relay.runOnce()).rejects.toThrow(/1 outbox events were not published/);
    const received = (await drain(addresses.queueUrls.fulfillment, 500)).map((m) => JSON.parse(m.Body!).id as string);
    expect(new Set(received)).toEqual(new Set(ids));
    const { rows } = await pool.query(`select id from ${SCHEMA}.outbox where published_at is null`);
    expect(rows.map((r: { id: string }) => r.id)).toEqual([stray.id]);
    await pool.query(`delete from ${SCHEMA}.outbox where id = $1`, [stray.id]);
  });

  it('publishes every event exactly once with two relays running together', async () => {
    await drain(addresses.queueUrls.fulfillment, 200);
    const ids = await enqueue(300);
    const relays = [0, 1].map(() => new OutboxRelay({ db: drizzle(pool), schema: SCHEMA, publisher: new SnsPublisher(clients), topicArns: addresses.topicArns, batchSize: 25, intervalMs: 20 }));
    await Promise.all(relays.map((r) => r.start()));
    cleanups.push(() => Promise.all(relays.map((r) => r.stop())));
    const received: string[] = [];
    await waitFor(async () => {
      received.push(...(await drain(addresses.queueUrls.fulfillment, 100)).map((m) => JSON.parse(m.Body!).id as string));
      return received.length >= ids.length;
    }, { timeoutMs: 30_000, what: 'all events on the queue' });
    received.push(...(await drain(addresses.queueUrls.fulfillment, 500)).map((m) => JSON.parse(m.Body!).id as string));
    await Promise.all(relays.map((r) => r.stop()));
    expect(received.length).toBe(ids.length);
    expect(new Set(received)).toEqual(new Set(ids));
    expect(relays[0]!.stats.published + relays[1]!.stats.published).toBe(ids.length);
    expect(relays.every((r) => r.stats.published > 0)).toBe(true); // both took part
    const { rows } = await pool.query(`select count(*)::int as n from ${SCHEMA}.outbox where published_at is null`);
    expect(rows[0].n).toBe(0);
  });

  it('keeps rows when SNS cannot be reached and publishes them once it is back', async () => {
    const proxy = await TcpProxy.forUrl(fauxqs.address).start();
    cleanups.push(() => proxy.stop());
    const viaProxy = createAwsClients({ region: 'us-east-1', endpoint: proxy.rewrite(fauxqs.address).replace(/\/$/, ''), requestTimeoutMs: 1_000 });
    cleanups.push(() => destroyAwsClients(viaProxy));
    const relay = new OutboxRelay({ db: drizzle(pool), schema: SCHEMA, publisher: new SnsPublisher(viaProxy), topicArns: addresses.topicArns });
    const ids = await enqueue(3);
    proxy.sever();
    await expect(relay.runOnce()).rejects.toThrow();
    const waiting = await pool.query(`select count(*)::int as n from ${SCHEMA}.outbox where published_at is null and id = any($1::uuid[])`, [ids]);
    expect(waiting.rows[0].n).toBe(3);
    proxy.restore();
    expect(await relay.runOnce()).toBe(3);
    const received = (await drain(addresses.queueUrls.fulfillment)).map((m) => JSON.parse(m.Body!).id);
    expect(received.sort()).toEqual([...ids].sort());
  });

  it('wakes at once on NOTIFY instead of waiting for its polling interval', async () => {
    const listenClient = new pg.Client({ connectionString: infra.databaseUrl });
    await listenClient.connect();
    cleanups.push(() => listenClient.end());
    const relay = new OutboxRelay({ db: drizzle(pool), schema: SCHEMA, publisher: new SnsPublisher(clients), topicArns: addresses.topicArns, intervalMs: 60_000, listenClient });
    await relay.start();
    cleanups.push(() => relay.stop());
    await new Promise((resolve) => setTimeout(resolve, 100)); // let its first (empty) pass finish and sleep
    const [id] = await enqueue(1);
    const started = Date.now();
    await waitFor(async () => (await drain(addresses.queueUrls.fulfillment, 50)).some((m) => JSON.parse(m.Body!).id === id), { timeoutMs: 5_000, what: 'the event' });
    expect(Date.now() - started).toBeLessThan(5_000);
    await relay.stop();
  });

  it('does not miss a NOTIFY that arrives while it is publishing: the next batch goes at once', async () => {
    const listenClient = new pg.Client({ connectionString: infra.databaseUrl });
    await listenClient.connect();
    cleanups.push(() => listenClient.end());
    // A publisher that takes 500 ms, so the second commit's NOTIFY lands while the first batch is being published.
    const sns = new SnsPublisher(clients);
    let publishing = 0;
    const slow = { publish: async (arn: string, events: Parameters<SnsPublisher['publish']>[1]) => {
      publishing++;
      await new Promise((resolve) => setTimeout(resolve, 500));
      await sns.publish(arn, events);
    } } as SnsPublisher;
    const relay = new OutboxRelay({ db: drizzle(pool), schema: SCHEMA, publisher: slow, topicArns: addresses.topicArns, intervalMs: 60_000, listenClient });
    await relay.start();
    cleanups.push(() => relay.stop());
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [first] = await enqueue(1);
    await waitFor(() => publishing === 1, { timeoutMs: 2_000, what: 'the relay to be publishing the first event' });
    const [second] = await enqueue(1);
    const seen = new Set<string>();
    await waitFor(async () => {
      for (const m of await drain(addresses.queueUrls.fulfillment, 50)) seen.add(JSON.parse(m.Body!).id as string);
      return seen.has(first!) && seen.has(second!);
    }, { timeoutMs: 5_000, what: 'both events, well before the 60 s polling interval' });
    await relay.stop();
  });
});

describe('queue consumer', () => {
  it('hands each event to its handler once, and records it so that a redelivery has no effect', async () => {
    const db = drizzle(pool);
    await drain(addresses.queueUrls.notifications, 200); // earlier tests' order.cancelled events land here too
    const deliveries: string[] = [];
    const consumer = new QueueConsumer({
      sqs: clients.sqs,
      queueUrl: addresses.queueUrls.notifications,
      handlers: {
        'order.cancelled': async (event) => {
          await inTransaction(db, async (tx) => {
            if (!(await recordProcessed(tx, SCHEMA, event.id, event.type))) return;
            await tx.execute(sql`insert into ${sql.identifier(SCHEMA)}.effects (event_id) values (${event.id})`);
          });
          deliveries.push(event.id); // after the handler's transaction has committed
        },
      },
    });
    consumer.start();
    cleanups.push(() => consumer.stop());
    const event = createEvent({ name: 'order.cancelled', source: 'orders-worker', subject: randomUUID(), data: order() });
    // the same event delivered twice, as SQS may do
    await clients.sqs.send(new SendMessageCommand({ QueueUrl: addresses.queueUrls.notifications, MessageBody: JSON.stringify(event) }));
    await clients.sqs.send(new SendMessageCommand({ QueueUrl: addresses.queueUrls.notifications, MessageBody: JSON.stringify(event) }));
    await waitFor(() => deliveries.filter((id) => id === event.id).length === 2, { timeoutMs: 10_000, what: 'both deliveries' });
    const { rows } = await pool.query(`select count(*)::int as n from ${SCHEMA}.effects where event_id = $1`, [event.id]);
    expect(rows[0].n).toBe(1);
    await consumer.stop();
  });

  it('retries a poison message, moves it to the DLQ after 5 receives, and keeps the queue flowing', async () => {
    await drain(addresses.queueUrls['orders-intake'], 100);
    const handled: string[] = [];
    const consumer = new QueueConsumer({
      sqs: clients.sqs,
      queueUrl: addresses.queueUrls['orders-intake'],
      retryDelaySeconds: () => 0,
      handlers: { 'order.submitted': async (event) => void handled.push(event.id) },
    });
    consumer.start();
    cleanups.push(() => consumer.stop());
    await clients.sqs.send(new SendMessageCommand({ QueueUrl: addresses.queueUrls['orders-intake'], MessageBody: '{"not":"an event"}' }));
    const good = createEvent({
      name: 'order.submitted', source: 'checkout', subject: randomUUID(),
      data: {
        orderId: randomUUID(), customerId: 'c-1', lines: [{ productId: randomUUID(), sku: 'S', name: 'N', quantity: 1, unitPriceCents: 100 }],
        totalCents: 100, currency: 'USD', shippingAddress: { name: 'A', line1: 'B', city: 'C', postalCode: 'D', country: 'GB' },
        contact: { email: 'a@example.com' }, paymentToken: 'tok_approve', submittedAt: new Date().toISOString(),
      },
    });
    await clients.sqs.send(new SendMessageCommand({ QueueUrl: addresses.queueUrls['orders-intake'], MessageBody: JSON.stringify(good) }));
    await waitFor(() => handled.includes(good.id), { timeoutMs: 10_000, what: 'the good message' });
    const dead = await waitFor(async () => {
      const r = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: addresses.deadLetterQueueUrls['orders-intake'], MessageSystemAttributeNames: ['ApproximateReceiveCount'] }));
      return r.Messages?.[0];
    }, { timeoutMs: 20_000, what: 'the poison message in the DLQ' });
    expect(dead.Body).toBe('{"not":"an event"}');
    expect(consumer.stats.failed.unparsed).toBe(5);
    await consumer.stop();
  });

  describe('batch handlers', () => {
    const queueUrl = () => addresses.queueUrls.notifications;
    const cancelled = () => createEvent({ name: 'order.cancelled', source: 'orders-worker', subject: randomUUID(), data: order() });
    /** Ten messages on the queue before the consumer starts, so that one receive takes them all. */
    const sendTen = async (bodies: string[]) => {
      await clients.sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl(), Entries: bodies.map((body, i) => ({ Id: String(i), MessageBody: body })) }));
    };
    const queueIsEmpty = async () => {
      const { Attributes } = await clients.sqs.send(new GetQueueAttributesCommand({
        QueueUrl: queueUrl(), AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }));
      return Attributes?.ApproximateNumberOfMessages === '0' && Attributes.ApproximateNumberOfMessagesNotVisible === '0';
    };

    it('hands the events of one type in a received batch over together, and deletes them all', async () => {
      await drain(queueUrl(), 200);
      const events = Array.from({ length: 9 }, cancelled);
      const other = createEvent({ name: 'order.placed', source: 'orders-worker', subject: randomUUID(), data: {
        ...order(), lines: [{ productId: randomUUID(), sku: 'S', name: 'N', quantity: 1, unitPriceCents: 100 }], totalCents: 100, currency: 'USD',
        shippingAddress: { name: 'A', line1: 'B', city: 'C', postalCode: 'D', country: 'GB' }, paymentToken: 'tok_approve',
      } });
      await sendTen([...events, other].map((e) => JSON.stringify(e)));
      const batches: string[][] = [];
      const alone: string[] = [];
      const consumer = new QueueConsumer({
        sqs: clients.sqs,
        queueUrl: queueUrl(),
        pollers: 1,
        handlers: { 'order.cancelled': async (e) => void alone.push(e.id), 'order.placed': async (e) => void alone.push(e.id) },
        batchHandlers: { 'order.cancelled': async (batch) => void batches.push(batch.map((e) => e.id)) },
      });
      consumer.start();
      cleanups.push(() => consumer.stop());
      await waitFor(() => batches.flat().length + alone.length === 10, { timeoutMs: 10_000, what: 'all ten events' });
      await consumer.stop();
      expect(batches.flat().sort()).toEqual(events.map((e) => e.id).sort());
      expect(batches.length).toBeLessThan(9); // fauxqs hands the ten over in one or a few receives
      expect(alone).toEqual([other.id]); // no batch handler for its type
      expect(consumer.stats.handled).toEqual({ 'com.securecart.order.cancelled': 9, 'com.securecart.order.placed': 1 });
      expect(await queueIsEmpty()).toBe(true);
    });

    it('when a batch fails, handles each of its events alone: the bad one fails by itself and the others are deleted', async () => {
      await drain(queueUrl(), 200);
      const events = Array.from({ length: 10 }, cancelled);
      const bad = events[3]!;
      await sendTen(events.map((e) => JSON.stringify(e)));
      let batchCalls = 0;
      const handled: string[] = [];
      const consumer = new QueueConsumer({
        sqs: clients.sqs,
        queueUrl: queueUrl(),
        pollers: 1,
        retryDelaySeconds: () => 60, // the bad one stays out of sight for the rest of the test
        handlers: {
          'order.cancelled': async (e: CloudEvent) => {
            if (e.id === bad.id) throw new Error('this one is bad');
            handled.push(e.id);
          },
        },
        batchHandlers: {
          'order.cancelled': async (batch) => {
            batchCalls++;
            if (batch.some((e) => e.id === bad.id)) throw new Error('a batch with the bad one in it');
            handled.push(...batch.map((e) => e.id));
          },
        },
      });
      consumer.start();
      cleanups.push(() => consumer.stop());
      await waitFor(() => handled.length === 9 && consumer.stats.failed['com.securecart.order.cancelled'] === 1, { timeoutMs: 10_000, what: 'nine handled, one failed' });
      await consumer.stop();
      expect(batchCalls).toBeGreaterThan(0);
      expect(handled.sort()).toEqual(events.filter((e) => e !== bad).map((e) => e.id).sort());
      const { Attributes } = await clients.sqs.send(new GetQueueAttributesCommand({
        QueueUrl: queueUrl(), AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }));
      // only the bad one is left, waiting out its retry delay
      expect(Attributes).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '1' });
    });
  });

  it('keeps a long handler\'s message hidden past its visibility timeout (heartbeat), so no other poller takes it', async () => {
    await drain(addresses.queueUrls['orders-fulfillment-updates'], 100);
    let calls = 0;
    const consumer = new QueueConsumer({
      sqs: clients.sqs,
      queueUrl: addresses.queueUrls['orders-fulfillment-updates'],
      pollers: 2,
      visibilityTimeoutSeconds: 2, // a heartbeat every second extends it
      handlers: {
        'payment.captured': async () => {
          calls++;
          await new Promise((resolve) => setTimeout(resolve, 5_000)); // 2.5 × the visibility timeout
        },
      },
    });
    consumer.start();
    cleanups.push(() => consumer.stop());
    const event = createEvent({ name: 'payment.captured', source: 'fulfillment', subject: randomUUID(), data: { orderId: randomUUID(), paymentId: 'p-2', amountCents: 100, currency: 'USD' } });
    await clients.sqs.send(new SendMessageCommand({ QueueUrl: addresses.queueUrls['orders-fulfillment-updates'], MessageBody: JSON.stringify(event) }));
    await waitFor(() => consumer.stats.handled['com.securecart.payment.captured'] === 1, { timeoutMs: 15_000, what: 'the long handler to finish' });
    await consumer.stop();
    expect(calls).toBe(1);
  }, 20_000);

  it('finishes the message in flight when stopped, so it is not delivered again', async () => {
    await drain(addresses.queueUrls['orders-fulfillment-updates'], 100);
    let started = 0;
    let finished = 0;
    const consumer = new QueueConsumer({
      sqs: clients.sqs,
      queueUrl: addresses.queueUrls['orders-fulfillment-updates'],
      handlers: {
        'payment.captured': async () => {
          started++;
          await new Promise((resolve) => setTimeout(resolve, 700)); // a handler that takes a while
          finished++;
        },
      },
    });
    consumer.start();
    cleanups.push(() => consumer.stop());
    const event = createEvent({ name: 'payment.captured', source: 'fulfillment', subject: randomUUID(), data: { orderId: randomUUID(), paymentId: 'p-1', amountCents: 100, currency: 'USD' } });
    await clients.sqs.send(new SendMessageCommand({ QueueUrl: addresses.queueUrls['orders-fulfillment-updates'], MessageBody: JSON.stringify(event) }));
    await waitFor(() => started === 1, { timeoutMs: 10_000, what: 'the handler to start' });
    await consumer.stop();
    expect(finished).toBe(1);
    // acknowledged (deleted), not merely hidden: neither visible nor in flight on the queue
    const attributes = await clients.sqs.send(new GetQueueAttributesCommand({
      QueueUrl: addresses.queueUrls['orders-fulfillment-updates'],
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }));
    expect(attributes.Attributes).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
  });
});

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
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createPool, inTransaction } from '@securecart/db';
import { TcpProxy, waitFor } from '@securecart/testing';
import {
  bootstrapTopology, createAwsClients, createEvent, destroyAwsClients, drainQueue, enqueueEvent, OutboxRelay, QueueConsumer,
  recordProcessed, registerOutboxMetrics, SnsPublisher, topicArnsFromCopilot, TOPOLOGY, wakeOutboxRelays, type AwsClients, type CloudEvent, type MessagingAddresses, type Topology,
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
const quiet = { info() {}, warn() {}, error() {} };
/** a relay log that keeps what it was told */
function recordingLog() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error') } };
}

beforeAll(async () => {
  fauxqs = await startFauxqs({ port: 0, logger: false });
  clients = createAwsClients({ region: 'us-east-1', endpoint: fauxqs.address });
  addresses = await bootstrapTopology(clients, { prefix: 't-' });
  pool = createPool(infra.databaseUrl, { name: 'messaging-test' });
  await pool.query(`create schema if not exists ${SCHEMA}`);
  // the DDL of outboxTable() and processedEventsTable(), as a service's migration creates it
  await pool.query(`create table if not exists ${SCHEMA}.outbox (id uuid primary key, topic text not null, type text not null, subject text not null,
    envelope jsonb not null, created_at timestamptz not null default now(), published_at timestamptz,
    attempts integer not null default 0, last_error text, next_attempt_at timestamptz not null default now(), dead_at timestamptz)`);
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

  it('refuses a topology whose queue subscribes to a topic it does not define, naming both', async () => {
    const { 'order-events': _dropped, ...topics } = TOPOLOGY.topics;
    const broken = { ...TOPOLOGY, topics } as unknown as Topology; // what a typo in a hand-edited topology would be
    await expect(bootstrapTopology(clients, { prefix: 'broken-', topology: broken })).rejects.toThrow(
      /topology: queue fulfillment subscribes to order-events, which is not one of its topics/,
    );
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

  it('charges a row for a topic it has no ARN for an attempt and publishes the rest', async () => {
    await drain(addresses.queueUrls.fulfillment, 200);
    await pool.query(`delete from ${SCHEMA}.outbox where published_at is null`);
    const stray = createEvent({ name: 'stock.changed', source: 'catalog', subject: randomUUID(), data: { productId: randomUUID(), stock: 3, reason: 'test' } });
    await inTransaction(drizzle(pool), (tx) => enqueueEvent(tx, SCHEMA, stray));
    const ids = await enqueue(3);
    const relay = new OutboxRelay({ db: drizzle(pool), schema: SCHEMA, publisher: new SnsPublisher(clients), topicArns: { 'order-events': addresses.topicArns['order-events'] }, owner: 'orders-worker', log: quiet });
    expect(await relay.runOnce()).toBe(3);
    const received = (await drain(addresses.queueUrls.fulfillment, 500)).map((m) => JSON.parse(m.Body!).id as string);
    expect(new Set(received)).toEqual(new Set(ids));
    const { rows } = await pool.query(`select id, attempts, last_error, next_attempt_at > now() as later from ${SCHEMA}.outbox where published_at is null`);
    expect(rows).toEqual([{ id: stray.id, attempts: 1, last_error: 'this relay has no ARN for topic catalog-events', later: true }]);
    expect(relay.stats).toMatchObject({ published: 3, refused: 1, failures: 0, dead: 0 });
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
    const listen = () => new pg.Client({ connectionString: infra.databaseUrl });
    const relay = new OutboxRelay({ db: drizzle(pool), schema: SCHEMA, publisher: new SnsPublisher(clients), topicArns: addresses.topicArns, intervalMs: 60_000, listen });
    await relay.start();
    cleanups.push(() => relay.stop());
    await new Promise((resolve) => setTimeout(resolve, 100)); // let its first (empty) pass finish and sleep
    const [id] = await enqueue(1);
    const started = Date.now();
    await waitFor(async () => (await drain(addresses.queueUrls.fulfillment, 50)).some((m) => JSON.parse(m.Body!).id === id), { timeoutMs: 5_000, what: 'the event' });
    expect(Date.now() - started).toBeLessThan(5_000);
    await relay.stop();
  });

  it('is woken in-process by wakeOutboxRelays after rows written without a NOTIFY, and only then', async () => {
    // no LISTEN connection and a polling interval of a minute: only the in-process wake can move the rows
    const relay = new OutboxRelay({ db: drizzle(pool), schema: SCHEMA, publisher: new SnsPublisher(clients), topicArns: addresses.topicArns, intervalMs: 60_000 });
    await relay.start();
    cleanups.push(() => relay.stop());
    await new Promise((resolve) => setTimeout(resolve, 100)); // let its first (empty) pass finish and sleep
    const event = createEvent({ name: 'order.cancelled', source: 'orders-worker', subject: randomUUID(), data: order() });
    await inTransaction(drizzle(pool), (tx) => enqueueEvent(tx, SCHEMA, event, { notify: false }));
    const arrived = async () => (await drain(addresses.queueUrls.fulfillment, 50)).some((m) => JSON.parse(m.Body!).id === event.id);
    expect(await arrived()).toBe(false); // asleep: nothing woke it
    wakeOutboxRelays(SCHEMA);
    await waitFor(arrived, { timeoutMs: 5_000, what: 'the event' });
    await relay.stop();
  });

  it('listens again after its LISTEN connection is lost (the primary restarted): wakes at once, not at its polling interval', async () => {
    const name = `relay-listen-${randomUUID().slice(0, 8)}`;
    const listening = async () => (await pool.query("select pid from pg_stat_activity where application_name = $1 and query like 'listen %'", [name])).rows.map((r) => r.pid as number);
    const relay = new OutboxRelay({
      db: drizzle(pool), schema: SCHEMA, publisher: new SnsPublisher(clients), topicArns: addresses.topicArns, intervalMs: 60_000, log: quiet,
      listen: () => new pg.Client({ connectionString: infra.databaseUrl, application_name: name }),
    });
    await relay.start();
    cleanups.push(() => relay.stop());
    const [first] = await listening();
    await pool.query('select pg_terminate_backend($1)', [first]);
    await waitFor(async () => (await listening()).some((pid) => pid !== first), { timeoutMs: 10_000, what: 'a new LISTEN connection' });
    const [id] = await enqueue(1);
    await waitFor(async () => (await drain(addresses.queueUrls.fulfillment, 50)).some((m) => JSON.parse(m.Body!).id === id), { timeoutMs: 5_000, what: 'the event, well before the 60 s polling interval' });
    await relay.stop();
    expect(await listening()).toEqual([]);
  });

  it('does not miss a NOTIFY that arrives while it is publishing: the next batch goes at once', async () => {
    const listen = () => new pg.Client({ connectionString: infra.databaseUrl });
    // A publisher that takes 500 ms, so the second commit's NOTIFY lands while the first batch is being published.
    const sns = new SnsPublisher(clients);
    let publishing = 0;
    const slow = { publish: async (arn: string, events: Parameters<SnsPublisher['publish']>[1]) => {
      publishing++;
      await new Promise((resolve) => setTimeout(resolve, 500));
      await sns.publish(arn, events);
    } } as SnsPublisher;
    const relay = new OutboxRelay({ db: drizzle(pool), schema: SCHEMA, publisher: slow, topicArns: addresses.topicArns, intervalMs: 60_000, listen });
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

describe('outbox: poison rows, outages and retention', () => {
  const db = () => drizzle(pool);
  const cancelled = (reason = 'changed my mind') => createEvent({ name: 'order.cancelled', source: 'orders-worker', subject: randomUUID(), data: { ...order(), reason } });
  async function put(...events: CloudEvent[]): Promise<string[]> {
    await inTransaction(db(), async (tx) => { for (const e of events) await enqueueEvent(tx, SCHEMA, e); });
    return events.map((e) => e.id);
  }
  const row = async (id: string) => (await pool.query(
    `select attempts, last_error, dead_at is not null as dead, published_at is not null as published from ${SCHEMA}.outbox where id = $1`, [id])).rows[0];
  const receivedIds = async (quietMs = 300) => (await drain(addresses.queueUrls.fulfillment, quietMs)).map((m) => JSON.parse(m.Body!).id as string);

  beforeEach(async () => {
    await drain(addresses.queueUrls.fulfillment, 200);
    await pool.query(`delete from ${SCHEMA}.outbox`);
  });

  it('isolates a row SNS refuses (its topic does not exist): the others go on, it backs off, then it is dead and left alone', async () => {
    const missing = addresses.topicArns['catalog-events'].replace(/[^:]+$/, 'no-such-topic');
    const { lines, log } = recordingLog();
    const relay = new OutboxRelay({
      db: db(), schema: SCHEMA, publisher: new SnsPublisher(clients), topicArns: { ...addresses.topicArns, 'catalog-events': missing },
      maxAttempts: 3, retryBaseMs: 1_500, retryMaxMs: 1_500, log,
    });
    const poison = createEvent({ name: 'stock.changed', source: 'catalog', subject: randomUUID(), data: { productId: randomUUID(), stock: 1, reason: 'test' } });
    const [poisonId, ...good] = await put(poison, cancelled(), cancelled());
    expect(await relay.runOnce()).toBe(2); // no throw: a refusal is not an outage
    expect(new Set(await receivedIds())).toEqual(new Set(good));
    expect(await row(poisonId!)).toMatchObject({ attempts: 1, dead: false, published: false, last_error: expect.stringMatching(/NotFound/) });

    // backing off: not claimed again before its next attempt, while new rows still go at once
    const [next] = await put(cancelled());
    expect(await relay.runOnce()).toBe(1);
    expect(await receivedIds()).toEqual([next]);
    expect((await row(poisonId!)).attempts).toBe(1);

    // charged on each attempt; dead after the third, and then never claimed
    await waitFor(async () => { await relay.runOnce(); return (await row(poisonId!)).dead as boolean; }, { timeoutMs: 10_000, intervalMs: 100, what: 'the row to be dead' });
    expect(await row(poisonId!)).toMatchObject({ attempts: 3, dead: true, published: false });
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // past any backoff
    expect(await relay.runOnce()).toBe(0);
    expect((await row(poisonId!)).attempts).toBe(3);
    expect(relay.stats).toMatchObject({ published: 3, refused: 2, dead: 1, failures: 0 });
    expect(lines.filter((l) => l.level === 'error')).toEqual([
      expect.objectContaining({ obj: expect.objectContaining({ outboxEventId: poisonId, type: 'com.securecart.stock.changed', attempts: 3 }) }),
    ]);

    // counted, reported as outboxDeadEvents (the alarm's field) and as the outbox_dead_events gauge
    const registry = new Registry();
    registerOutboxMetrics(registry, relay);
    expect(await registry.getSingleMetricAsString('outbox_dead_events')).toMatch(/^outbox_dead_events 1$/m);
    expect(await registry.getSingleMetricAsString('outbox_events')).toMatch(/outbox_events\{outcome="dead"\} 1/);
    expect((await relay.maintain()).deadEvents).toBe(1);
    expect(lines.at(-1)).toMatchObject({ level: 'warn', obj: { outboxDeadEvents: 1 } });
    await pool.query(`delete from ${SCHEMA}.outbox where id = $1`, [poisonId]);
  });

  it('marks an event over SNS\'s 256 KiB limit dead at once, without a call, and publishes its neighbours', async () => {
    const relay = new OutboxRelay({ db: db(), schema: SCHEMA, publisher: new SnsPublisher(clients), topicArns: addresses.topicArns, log: quiet });
    const [before, huge, after] = await put(cancelled(), cancelled('x'.repeat(300_000)), cancelled());
    expect(await relay.runOnce()).toBe(2);
    expect(new Set(await receivedIds())).toEqual(new Set([before, after]));
    expect(await row(huge!)).toMatchObject({ attempts: 1, dead: true, published: false, last_error: expect.stringMatching(/over SNS's limit of 262144/) });
    await pool.query(`delete from ${SCHEMA}.outbox where id = $1`, [huge]);
  });

  it('when one PublishBatch call of several fails, publishes the others and marks only theirs published', async () => {
    // SNS answers the second of three calls with a 500 (the first 10 rows, the next 10, the last 5)
    let calls = 0;
    const flaky: AwsClients = { ...clients, sns: { send: (command: never) => {
      calls++;
      if (calls === 2) return Promise.reject(Object.assign(new Error('We encountered an internal error'), { name: 'InternalErrorException' }));
      return clients.sns.send(command);
    } } as unknown as AwsClients['sns'] };
    const relay = new OutboxRelay({ db: db(), schema: SCHEMA, publisher: new SnsPublisher(flaky), topicArns: addresses.topicArns, log: quiet });
    const ids = await put(...Array.from({ length: 25 }, () => cancelled()));
    await expect(relay.runOnce()).rejects.toThrow(/10 outbox events were not published: InternalErrorException/);
    expect(calls).toBe(3);
    const { rows } = await pool.query(`select id, attempts, last_error from ${SCHEMA}.outbox where published_at is null order by created_at, id`);
    expect(rows).toHaveLength(10);
    expect(rows.every((r: { attempts: number; last_error: string }) => r.attempts === 0 && /InternalError/.test(r.last_error))).toBe(true); // an outage charges nothing
    const first = new Set(await receivedIds());
    expect(first.size).toBe(15);
    expect(rows.some((r: { id: string }) => first.has(r.id))).toBe(false); // what is on the queue is exactly what is marked
    expect(await relay.runOnce()).toBe(10);
    expect(new Set([...first, ...(await receivedIds())])).toEqual(new Set(ids));
  });

  it('charges no attempt while SNS cannot be reached, however long that lasts', async () => {
    const proxy = await TcpProxy.forUrl(fauxqs.address).start();
    cleanups.push(() => proxy.stop());
    const viaProxy = createAwsClients({ region: 'us-east-1', endpoint: proxy.rewrite(fauxqs.address).replace(/\/$/, ''), requestTimeoutMs: 500 });
    cleanups.push(() => destroyAwsClients(viaProxy));
    const relay = new OutboxRelay({ db: db(), schema: SCHEMA, publisher: new SnsPublisher(viaProxy), topicArns: addresses.topicArns, maxAttempts: 2, retryBaseMs: 10, log: quiet });
    const [id] = await put(cancelled());
    proxy.sever();
    for (let i = 0; i < 3; i++) await expect(relay.runOnce()).rejects.toThrow(/not published/);
    expect(await row(id!)).toMatchObject({ attempts: 0, dead: false, published: false, last_error: expect.any(String) });
    proxy.restore();
    expect(await relay.runOnce()).toBe(1);
    expect(await receivedIds()).toEqual([id]);
  });

  it('prunes published rows and processed event ids past the retention, and keeps pending and dead rows', async () => {
    await pool.query(`delete from ${SCHEMA}.outbox`);
    const [oldPublished, recentPublished, oldPending, oldDead] = await put(cancelled(), cancelled(), cancelled(), cancelled());
    await pool.query(`update ${SCHEMA}.outbox set created_at = now() - interval '20 days' where id = any($1)`, [[oldPublished, oldPending, oldDead]]);
    await pool.query(`update ${SCHEMA}.outbox set published_at = now() - interval '16 days' where id = $1`, [oldPublished]);
    await pool.query(`update ${SCHEMA}.outbox set published_at = now() - interval '1 day' where id = $1`, [recentPublished]);
    await pool.query(`update ${SCHEMA}.outbox set dead_at = now() - interval '19 days', attempts = 10 where id = $1`, [oldDead]);
    await pool.query(`update ${SCHEMA}.outbox set next_attempt_at = now() + interval '1 hour' where id = $1`, [oldPending]);
    const oldProcessed = randomUUID();
    const recentProcessed = randomUUID();
    await pool.query(`insert into ${SCHEMA}.processed_events (event_id, type, processed_at) values ($1, 't', now() - interval '16 days'), ($2, 't', now())`, [oldProcessed, recentProcessed]);

    const relay = new OutboxRelay({ db: db(), schema: SCHEMA, publisher: new SnsPublisher(clients), topicArns: addresses.topicArns, processedEvents: true, log: quiet });
    const result = await relay.maintain();
    expect(result).toMatchObject({ prunedEvents: 1, deadEvents: 1 });
    expect(result.prunedProcessedEvents).toBeGreaterThanOrEqual(1);
    const { rows } = await pool.query(`select id from ${SCHEMA}.outbox`);
    expect(new Set(rows.map((r: { id: string }) => r.id))).toEqual(new Set([recentPublished, oldPending, oldDead]));
    const processed = await pool.query(`select event_id from ${SCHEMA}.processed_events where event_id = any($1)`, [[oldProcessed, recentProcessed]]);
    expect(processed.rows.map((r: { event_id: string }) => r.event_id)).toEqual([recentProcessed]);

    // without processedEvents (a service that consumes nothing), its processed_events are left alone
    await pool.query(`update ${SCHEMA}.processed_events set processed_at = now() - interval '16 days' where event_id = $1`, [recentProcessed]);
    const catalogLike = new OutboxRelay({ db: db(), schema: SCHEMA, publisher: new SnsPublisher(clients), topicArns: addresses.topicArns, log: quiet });
    expect((await catalogLike.maintain()).prunedProcessedEvents).toBe(0);
    expect((await pool.query(`select 1 from ${SCHEMA}.processed_events where event_id = $1`, [recentProcessed])).rowCount).toBe(1);
    await pool.query(`delete from ${SCHEMA}.outbox`);
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

    it('handles events about one subject one after another, oldest first, and different subjects concurrently', async () => {
      await drain(queueUrl(), 200);
      const subjects = [randomUUID(), randomUUID(), randomUUID()];
      const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds));
      // three events per subject, sent newest first: a receive hands them over out of order
      const events = subjects.flatMap((subject) =>
        [3, 2, 1].map((second) => createEvent({ name: 'order.cancelled', source: 'orders-worker', subject, time: at(second), data: { ...order(), orderId: subject } })),
      );
      await sendTen(events.map((e) => JSON.stringify(e)));
      const seen = new Map<string, number[]>();
      const inFlight = new Map<string, number>();
      let most = 0;
      let overlapWithinSubject = false;
      const consumer = new QueueConsumer({
        sqs: clients.sqs,
        queueUrl: queueUrl(),
        pollers: 1,
        handlers: {
          'order.cancelled': async (e) => {
            const now = (inFlight.get(e.subject) ?? 0) + 1;
            if (now > 1) overlapWithinSubject = true;
            inFlight.set(e.subject, now);
            most = Math.max(most, [...inFlight.values()].reduce((a, b) => a + b, 0));
            await new Promise((resolve) => setTimeout(resolve, 30));
            seen.set(e.subject, [...(seen.get(e.subject) ?? []), new Date(e.time).getUTCSeconds()]);
            inFlight.set(e.subject, inFlight.get(e.subject)! - 1);
          },
        },
      });
      consumer.start();
      cleanups.push(() => consumer.stop());
      await waitFor(() => [...seen.values()].flat().length === 9, { timeoutMs: 10_000, what: 'all nine events' });
      await consumer.stop();
      expect(overlapWithinSubject).toBe(false);
      for (const subject of subjects) expect(seen.get(subject)).toEqual([1, 2, 3]);
      expect(most).toBeGreaterThan(1);
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

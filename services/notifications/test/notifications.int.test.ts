/**
 * Notifications end to end on the SQS/SNS wire protocol (fauxqs) and real Postgres: order events published on
 * the `order-events` topic reach the worker through the `notifications` queue and its filter policy, and each
 * (event, channel) is delivered once and recorded once, however often and however concurrently the event arrives;
 * a failing channel is retried, recorded, and dead-lettered without stopping the queue.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { drizzle } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPool } from '@securecart/db';
import { QueueConsumer } from '@securecart/messaging';
import { waitFor } from '@securecart/testing';
import { createLocalSink } from '../src/channels/local-sink.ts';
import { loadNotificationsWorkerConfig } from '../src/config.ts';
import { NOTIFICATION_EVENTS, renderNotification, SMS_MAX_LENGTH } from '../src/domain/templates.ts';
import { DeliveryFailedError, notificationHandlers } from '../src/handlers/order-notification.handler.ts';
import { startNotificationsWorker, type NotificationsWorker } from '../src/worker.ts';
import {
  countingSenders, deliveriesOf, migrateNotifications, orderEvent, placedEvent, scratchDir, sinkFilesOf, startTestMessaging,
  type TestMessaging,
} from './harness.ts';

const infra = inject('infra');
const both = { email: 'ada@example.com', phone: '+447700900123' };
let sql: pg.Pool;
let messaging: TestMessaging;
let worker: NotificationsWorker;
let sink: Awaited<ReturnType<typeof scratchDir>>;
const cleanups: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  await migrateNotifications(infra);
  sql = createPool(infra.databaseUrl, { name: 'notifications-test' });
  sink = await scratchDir('worker');
  messaging = await startTestMessaging();
  worker = await startNotificationsWorker(
    loadNotificationsWorkerConfig({
      DATABASE_URL: infra.databaseUrl,
      AWS_ENDPOINT_URL: messaging.endpoint,
      MESSAGING_PREFIX: messaging.prefix,
      LOCAL_SINK_DIR: sink.dir,
      PROBE_PORT: '0',
      LOG_LEVEL: 'silent',
    }),
  );
});
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await worker?.stop();
  await messaging?.close();
  await sql?.end();
  await sink?.remove();
});

const sentRows = async (eventId: string, channels: number) => {
  const rows = await deliveriesOf(sql, eventId);
  return rows.length === channels && rows.every((row) => row.status === 'SENT') && rows;
};

describe('the notifications worker', () => {
  it('tells the customer of each of the five order events: one sink file and one SENT delivery per event', async () => {
    const events = NOTIFICATION_EVENTS.map((name) => orderEvent(name));
    await messaging.publishOrderEvents(events);
    for (const event of events) {
      const [row] = await waitFor(() => sentRows(event.id, 1), { timeoutMs: 10_000, what: `the delivery of ${event.type}` });
      expect(row).toMatchObject({
        eventId: event.id,
        channel: 'email',
        orderId: event.data.orderId,
        type: event.type,
        recipient: 'ada@example.com',
        status: 'SENT',
        attempts: 1,
        providerMessageId: `local-sink:${event.id}-email.json`,
        lastError: null,
        sentAt: expect.any(Date),
      });
      const rendered = renderNotification(event.type.replace('com.securecart.', '') as (typeof NOTIFICATION_EVENTS)[number], event.data as never, { shopName: 'SecureCart' });
      expect(await sinkFilesOf(sink.dir, event.id)).toEqual({
        [`${event.id}-email.json`]: {
          deliveryKey: `${event.id}-email`,
          channel: 'email',
          orderId: event.data.orderId,
          eventType: event.type,
          from: 'SecureCart <orders@securecart.localhost>',
          to: 'ada@example.com',
          subject: rendered.subject,
          text: rendered.text,
          writtenAt: expect.any(String),
        },
      });
    }
  });

  it('sends an email and an SMS when the order has both, each once', async () => {
    const event = orderEvent('order.shipped', { contact: both });
    await messaging.publishOrderEvents([event]);
    const rows = await waitFor(() => sentRows(event.id, 2), { timeoutMs: 10_000, what: 'both deliveries' });
    expect(rows.map((r) => [r.channel, r.recipient, r.attempts])).toEqual([
      ['email', 'ada@example.com', 1],
      ['sms', '+447700900123', 1],
    ]);
    const files = await sinkFilesOf(sink.dir, event.id);
    expect(Object.keys(files).sort()).toEqual([`${event.id}-email.json`, `${event.id}-sms.json`]);
    const sms = files[`${event.id}-sms.json`]!;
    expect(sms).toMatchObject({ channel: 'sms', to: '+447700900123' });
    expect(sms.text).toBe(`SecureCart: your order #${event.data.orderId.replace(/-/g, '').slice(0, 8).toUpperCase()} has shipped with UPS. Tracking number: 1Z999AA10123456784`);
    expect(sms.text.length).toBeLessThanOrEqual(SMS_MAX_LENGTH);
  });

  it('delivers an event published twice only once', async () => {
    const event = orderEvent('order.refunded', { contact: both });
    const handledBefore = worker.consumer.stats.handled[event.type] ?? 0;
    await messaging.publishOrderEvents([event]);
    await messaging.publishOrderEvents([event]);
    await waitFor(() => (worker.consumer.stats.handled[event.type] ?? 0) >= handledBefore + 2, { timeoutMs: 10_000, what: 'both copies to be handled' });
    const rows = await deliveriesOf(sql, event.id);
    expect(rows.map((r) => [r.channel, r.status, r.attempts])).toEqual([
      ['email', 'SENT', 1],
      ['sms', 'SENT', 1],
    ]);
    expect(Object.keys(await sinkFilesOf(sink.dir, event.id))).toHaveLength(2);
  });

  it('records an event whose order has no contact as skipped, and writes nothing', async () => {
    const event = orderEvent('order.cancelled', { contact: {} });
    await messaging.publishOrderEvents([event]);
    const [row] = await waitFor(async () => {
      const rows = await deliveriesOf(sql, event.id);
      return rows.length > 0 && rows;
    }, { timeoutMs: 10_000, what: 'the skipped record' });
    expect(row).toMatchObject({ channel: 'none', status: 'SKIPPED', recipient: null, attempts: 0, orderId: event.data.orderId, type: event.type });
    expect(await sinkFilesOf(sink.dir, event.id)).toEqual({});
  });

  it('never receives an order event its subscription does not let through', async () => {
    const placed = placedEvent();
    const marker = orderEvent('order.confirmed');
    await messaging.publishOrderEvents([placed]);
    await messaging.publishOrderEvents([marker]);
    await waitFor(() => sentRows(marker.id, 1), { timeoutMs: 10_000, what: 'the event published after order.placed' });
    // order.placed was published (fulfillment's queue has it) but never reached the notifications queue
    expect(await messaging.queueDepth('fulfillment')).toBeGreaterThanOrEqual(1);
    expect(await messaging.queueDepth('notifications')).toBe(0);
    expect(worker.consumer.stats.handled[placed.type]).toBeUndefined();
    expect(worker.consumer.stats.failed[placed.type]).toBeUndefined();
    expect(await deliveriesOf(sql, placed.id)).toEqual([]);
    expect(await sinkFilesOf(sink.dir, placed.id)).toEqual({});
  });
});

describe('delivering once', () => {
  it('sends once when the same event is handled three times at once', async () => {
    const dir = await scratchDir('concurrent');
    cleanups.push(dir.remove);
    // each send is held 300 ms, so the other two handlers arrive while the first holds the delivery
    const { senders, calls } = countingSenders(createLocalSink(dir.dir), { delayMs: 300 });
    const handle = notificationHandlers({ db: drizzle(sql), senders })['order.confirmed'];
    const event = orderEvent('order.confirmed', { contact: both });
    await Promise.all([1, 2, 3].map(() => handle(event, { receiveCount: 1 })));
    expect(Object.fromEntries(calls)).toEqual({ [`${event.id}-email`]: 1, [`${event.id}-sms`]: 1 });
    expect((await deliveriesOf(sql, event.id)).map((r) => [r.channel, r.status, r.attempts])).toEqual([
      ['email', 'SENT', 1],
      ['sms', 'SENT', 1],
    ]);
    expect(Object.keys(await sinkFilesOf(dir.dir, event.id))).toHaveLength(2);
  });

  it('sends once when three retries of a failed delivery run at once', async () => {
    const dir = await scratchDir('concurrent-retries');
    cleanups.push(dir.remove);
    const notAFolder = path.join(dir.dir, 'not-a-folder');
    await writeFile(notAFolder, '');
    const event = orderEvent('order.cancelled');
    const broken = createLocalSink(path.join(notAFolder, 'sink'));
    await expect(notificationHandlers({ db: drizzle(sql), senders: broken })['order.cancelled'](event, { receiveCount: 1 })).rejects.toThrow(DeliveryFailedError);
    // the row exists now (FAILED): the retries find it, and only the row lock keeps them apart
    const { senders, calls } = countingSenders(createLocalSink(path.join(dir.dir, 'sink')), { delayMs: 300 });
    const handle = notificationHandlers({ db: drizzle(sql), senders })['order.cancelled'];
    await Promise.all([2, 2, 2].map((receiveCount) => handle(event, { receiveCount })));
    expect(Object.fromEntries(calls)).toEqual({ [`${event.id}-email`]: 1 });
    expect((await deliveriesOf(sql, event.id)).map((r) => [r.channel, r.status, r.attempts])).toEqual([['email', 'SENT', 2]]);
  });

  it('still sends the other channel when one fails, and a retry repeats only the failed one', async () => {
    const dir = await scratchDir('partial');
    cleanups.push(dir.remove);
    const notAFolder = path.join(dir.dir, 'not-a-folder');
    await writeFile(notAFolder, '');
    const good = createLocalSink(path.join(dir.dir, 'sink'));
    const broken = createLocalSink(path.join(notAFolder, 'sink'));
    const event = orderEvent('order.rejected', { contact: both });

    const first = countingSenders({ email: good.email, sms: broken.sms });
    const failure = await notificationHandlers({ db: drizzle(sql), senders: first.senders })['order.rejected'](event, { receiveCount: 1 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(DeliveryFailedError);
    // the reason names the delivery and the masked recipient, never the number itself
    expect((failure as Error).message).toMatch(new RegExp(`^sms delivery ${event.id}-sms to \\+44\\*{8}23 failed \\(attempt 1\\): .*ENOTDIR`));
    expect((failure as Error).message).not.toContain('+447700900123');
    expect((await deliveriesOf(sql, event.id)).map((r) => [r.channel, r.status, r.attempts, r.lastError && /ENOTDIR/.test(r.lastError)])).toEqual([
      ['email', 'SENT', 1, null],
      ['sms', 'FAILED', 1, true],
    ]);

    const retry = countingSenders(good);
    await notificationHandlers({ db: drizzle(sql), senders: retry.senders })['order.rejected'](event, { receiveCount: 2 });
    expect(Object.fromEntries(retry.calls)).toEqual({ [`${event.id}-sms`]: 1 });
    expect((await deliveriesOf(sql, event.id)).map((r) => [r.channel, r.status, r.attempts, r.lastError])).toEqual([
      ['email', 'SENT', 1, null],
      ['sms', 'SENT', 2, null],
    ]);
    expect(Object.keys(await sinkFilesOf(good.dir, event.id)).sort()).toEqual([`${event.id}-email.json`, `${event.id}-sms.json`]);
  });

  it('completes a delivery the sink already holds (a crash between the send and its commit) without a second message', async () => {
    const dir = await scratchDir('crash');
    cleanups.push(dir.remove);
    const local = createLocalSink(dir.dir);
    const event = orderEvent('order.shipped');
    // the first attempt wrote the file, then the process died before its transaction committed
    await local.email.send({ to: 'ada@example.com', subject: 'the first attempt', text: 'the first attempt' }, {
      idempotencyKey: `${event.id}-email`,
      orderId: event.data.orderId,
      eventType: event.type,
    });
    await notificationHandlers({ db: drizzle(sql), senders: local })['order.shipped'](event, { receiveCount: 2 });
    expect((await deliveriesOf(sql, event.id)).map((r) => [r.channel, r.status, r.attempts])).toEqual([['email', 'SENT', 1]]);
    const files = await sinkFilesOf(dir.dir, event.id);
    expect(Object.keys(files)).toEqual([`${event.id}-email.json`]);
    expect(files[`${event.id}-email.json`]!.subject).toBe('the first attempt');
  });
});

describe('the lease on a delivery', () => {
  /** a delivery row left PENDING by a handler that died while sending, its lease running out in `seconds` */
  const leftPending = async (event: { id: string; data: { orderId: string }; type: string }, seconds: number) => {
    await sql.query(
      `insert into notifications.deliveries (event_id, channel, order_id, type, recipient, status, attempts, claimed_until)
       values ($1, 'email', $2, $3, 'ada@example.com', 'PENDING', 0, now() + make_interval(secs => $4))`,
      [event.id, event.data.orderId, event.type, seconds],
    );
  };

  it('holds no transaction while the provider answers: the claim is committed, and visible, during the send', async () => {
    const dir = await scratchDir('lease-visible');
    cleanups.push(dir.remove);
    const event = orderEvent('order.confirmed');
    const local = createLocalSink(dir.dir);
    let seenDuringSend: unknown[] = [];
    const senders = {
      ...local,
      email: {
        send: async (...args: Parameters<typeof local.email.send>) => {
          const { rows } = await sql.query(
            `select status, claimed_until > now() + interval '50 seconds' as leased from notifications.deliveries where event_id = $1`,
            [event.id],
          );
          seenDuringSend = rows;
          return local.email.send(...args);
        },
      },
    };
    await notificationHandlers({ db: drizzle(sql), senders })['order.confirmed'](event, { receiveCount: 1 });
    expect(seenDuringSend).toEqual([{ status: 'PENDING', leased: true }]);
    const { rows } = await sql.query('select status, claimed_until from notifications.deliveries where event_id = $1', [event.id]);
    expect(rows).toEqual([{ status: 'SENT', claimed_until: null }]);
  });

  it('leaves a delivery another handler holds alone, and sends the message back until the lease runs out', async () => {
    const dir = await scratchDir('lease-held');
    cleanups.push(dir.remove);
    const event = orderEvent('order.shipped');
    await leftPending(event, 40);
    const { senders, calls } = countingSenders(createLocalSink(dir.dir));
    const started = Date.now();
    const result = await notificationHandlers({ db: drizzle(sql), senders })['order.shipped'](event, { receiveCount: 2 });
    // it looked again for about two seconds, then gave up for now
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    expect(result).toMatchObject({ outcome: 'retry-later' });
    const delay = (result as { delaySeconds: number }).delaySeconds;
    expect(delay).toBeGreaterThanOrEqual(37);
    expect(delay).toBeLessThanOrEqual(41);
    expect(calls.size).toBe(0);
    expect((await deliveriesOf(sql, event.id)).map((r) => [r.status, r.attempts])).toEqual([['PENDING', 0]]);
  });

  it('takes over a delivery whose handler died while sending, once its lease has run out, and sends it once', async () => {
    const dir = await scratchDir('lease-expired');
    cleanups.push(dir.remove);
    const event = orderEvent('order.shipped');
    await leftPending(event, -1);
    const { senders, calls } = countingSenders(createLocalSink(dir.dir));
    const handle = notificationHandlers({ db: drizzle(sql), senders })['order.shipped'];
    expect(await handle(event, { receiveCount: 2 })).toBeUndefined();
    expect(await handle(event, { receiveCount: 3 })).toBeUndefined();
    expect(Object.fromEntries(calls)).toEqual({ [`${event.id}-email`]: 1 });
    expect((await deliveriesOf(sql, event.id)).map((r) => [r.status, r.attempts])).toEqual([['SENT', 1]]);
  });
});

describe('a channel that keeps failing', () => {
  it('is retried with its attempts recorded, goes to notifications-dlq after 5 receives, and later messages are still delivered', async () => {
    const dir = await scratchDir('dlq');
    cleanups.push(dir.remove);
    const notAFolder = path.join(dir.dir, 'not-a-folder');
    await writeFile(notAFolder, '');
    const good = createLocalSink(path.join(dir.dir, 'sink'));
    const broken = createLocalSink(path.join(notAFolder, 'sink'));
    // a queue of its own, so that the worker above does not take these messages
    const own = await startTestMessaging();
    cleanups.push(() => own.close());
    const consumer = new QueueConsumer({
      sqs: own.clients.sqs,
      queueUrl: own.addresses.queueUrls.notifications,
      queueName: 'notifications',
      retryDelaySeconds: () => 0,
      handlers: notificationHandlers({ db: drizzle(sql), senders: { email: good.email, sms: broken.sms } }),
    });
    consumer.start();
    cleanups.push(() => consumer.stop());

    const failing = orderEvent('order.shipped', { contact: { phone: '+447700900123' } });
    const later = orderEvent('order.confirmed', { contact: { email: 'ada@example.com' } });
    await own.publishOrderEvents([failing]);
    await own.publishOrderEvents([later]);

    await waitFor(() => sentRows(later.id, 1), { timeoutMs: 10_000, what: 'the later message to be delivered' });
    const dead = await waitFor(async () => {
      const received = await own.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: own.addresses.deadLetterQueueUrls.notifications, WaitTimeSeconds: 0 }));
      return received.Messages?.[0];
    }, { timeoutMs: 20_000, what: 'the failing message in notifications-dlq' });
    expect(JSON.parse(dead.Body!)).toMatchObject({ id: failing.id, type: failing.type });
    expect(consumer.stats.failed[failing.type]).toBe(5);
    const [row] = await deliveriesOf(sql, failing.id);
    expect(row).toMatchObject({ channel: 'sms', status: 'FAILED', attempts: 5, providerMessageId: null, sentAt: null });
    expect(row!.lastError).toMatch(/ENOTDIR/);
    expect(await sinkFilesOf(good.dir, failing.id)).toEqual({});
    await consumer.stop();
  });
});

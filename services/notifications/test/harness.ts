/**
 * The notifications worker on the run's real infrastructure: Postgres (the run's database, `notifications` schema
 * migrated), fauxqs (the SQS/SNS wire protocol, embedded or the run's emulator) with SecureCart's topology bootstrapped under a prefix of
 * its own, and local sinks in scratch folders. Events are built as the orders-worker's outbox emits them.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type pg from 'pg';
import type { EventPayload } from '@securecart/contracts';
import { migrateWithUrl } from '@securecart/db';
import { createEvent, type CloudEvent, type QueueName } from '@securecart/messaging';
import { startLocalMessaging, type LocalMessaging } from '@securecart/messaging/local';
import type { Infra } from '@securecart/testing';
import type { SinkFile } from '../src/channels/local-sink.ts';
import type { Senders } from '../src/channels/ports.ts';
import { notificationsMigrations } from '../src/db/migrations.ts';
import type { DeliveryRow } from '../src/db/schema.ts';
import type { Contact } from '../src/domain/deliveries.ts';
import type { NotificationEvent } from '../src/domain/templates.ts';

export async function migrateNotifications(infra: Infra): Promise<void> {
  await migrateWithUrl(infra.databaseUrl, notificationsMigrations);
}

export interface TestMessaging extends LocalMessaging {
  /** publishes events on the real `order-events` topic, as the orders-worker's outbox relay does */
  publishOrderEvents(events: CloudEvent[]): Promise<void>;
  /** messages on a queue, visible or in flight */
  queueDepth(queue: QueueName, deadLetter?: boolean): Promise<number>;
}

/**
 * fauxqs with SecureCart's topology bootstrapped under a prefix of its own: in this process, or the run's emulator
 * out of process (`endpoint`: infra.sqsEndpoint), for workers that run as processes of their own.
 */
export async function startTestMessaging(options: { endpoint?: string } = {}): Promise<TestMessaging> {
  const messaging = await startLocalMessaging({ prefix: `n${randomUUID().slice(0, 8)}-`, ...options });
  const { clients, addresses, publisher } = messaging;
  return {
    ...messaging,
    publishOrderEvents: (events) => publisher.publish(addresses.topicArns['order-events'], events),
    queueDepth: async (queue, deadLetter = false) => {
      const attributes = await clients.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: deadLetter ? addresses.deadLetterQueueUrls[queue] : addresses.queueUrls[queue],
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      return Number(attributes.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(attributes.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
    },
  };
}

type Facts = { [N in NotificationEvent]: Omit<EventPayload<N>, 'orderId' | 'customerId' | 'contact'> };

export const FACTS: Facts = {
  'order.confirmed': { totalCents: 3700, currency: 'USD' },
  'order.shipped': { carrier: 'UPS', trackingNumber: '1Z999AA10123456784' },
  'order.rejected': { reason: 'the payment was declined' },
  'order.cancelled': { reason: 'cancelled at your request' },
  'order.refunded': { amountCents: 3700, currency: 'EUR' },
};

/** An order event as the orders-worker emits it, for a fresh order (or `orderId`), to `contact`. */
export function orderEvent<N extends NotificationEvent>(
  name: N,
  options: { contact?: Contact; orderId?: string } = {},
): CloudEvent<N> {
  const orderId = options.orderId ?? randomUUID();
  const data = { orderId, customerId: `customer-${orderId.slice(0, 8)}`, contact: options.contact ?? { email: 'ada@example.com' }, ...FACTS[name] };
  return createEvent({ name, source: 'orders-worker', subject: orderId, correlationId: `corr-${orderId}`, data: data as EventPayload<N> });
}

/** An order event of a type the notifications queue does not carry. */
export function placedEvent(contact: Contact = { email: 'ada@example.com' }): CloudEvent<'order.placed'> {
  const orderId = randomUUID();
  return createEvent({
    name: 'order.placed',
    source: 'orders-worker',
    subject: orderId,
    data: {
      orderId,
      customerId: 'customer-placed',
      lines: [{ productId: randomUUID(), sku: 'SKU-1', name: 'Kettle', quantity: 1, unitPriceCents: 3700 }],
      totalCents: 3700,
      currency: 'USD',
      shippingAddress: { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' },
      contact,
      paymentToken: 'tok_approve',
    },
  });
}

/** A scratch folder for a local sink, removed by `remove()`. */
export async function scratchDir(label: string) {
  const dir = await mkdtemp(path.join(os.tmpdir(), `notifications-${label}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The sink files about one event, by name. */
export async function sinkFilesOf(dir: string, eventId: string): Promise<Record<string, SinkFile>> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => name.startsWith(eventId));
  const files: Record<string, SinkFile> = {};
  for (const name of names) files[name] = JSON.parse(await readFile(path.join(dir, name), 'utf8')) as SinkFile;
  return files;
}

/** The delivery log rows of one event, by channel. */
export async function deliveriesOf(sql: pg.Pool, eventId: string): Promise<DeliveryRow[]> {
  const { rows } = await sql.query(
    `select event_id as "eventId", channel, order_id as "orderId", type, recipient, status, provider_message_id as "providerMessageId",
            attempts, last_error as "lastError", created_at as "createdAt", updated_at as "updatedAt", sent_at as "sentAt"
       from notifications.deliveries where event_id = $1 order by channel`,
    [eventId],
  );
  return rows as DeliveryRow[];
}

/**
 * Wraps real senders and counts the sends each delivery key reaches (whatever the provider makes of them);
 * `delayMs` holds each send that long first, so that concurrent handlers really overlap.
 */
export function countingSenders(senders: Senders, options: { delayMs?: number } = {}) {
  const calls = new Map<string, number>();
  const count = async (key: string) => {
    calls.set(key, (calls.get(key) ?? 0) + 1);
    if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
  };
  const wrapped: Senders = {
    email: {
      send: async (message, context) => {
        await count(context.idempotencyKey);
        return senders.email.send(message, context);
      },
    },
    sms: {
      send: async (message, context) => {
        await count(context.idempotencyKey);
        return senders.sms.send(message, context);
      },
    },
  };
  return { senders: wrapped, calls };
}

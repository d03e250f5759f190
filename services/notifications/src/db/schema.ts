/**
 * The notifications service's own Postgres schema `notifications`: the delivery log. One row per (event id,
 * channel), whatever happens: it is both the record of what each customer was told and the idempotency key that
 * keeps a redelivered or duplicated event from telling them twice (see db/deliveries-repo.ts). An event without
 * any contact leaves one row with channel `none` and status SKIPPED.
 * Migrations are generated from this file by drizzle-kit (pnpm --filter @securecart/notifications db:generate).
 */
import { index, integer, pgSchema, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const NOTIFICATIONS_SCHEMA = 'notifications';

export const notifications = pgSchema(NOTIFICATIONS_SCHEMA);

export const DELIVERY_CHANNELS = ['email', 'sms', 'none'] as const;
/**
 * PENDING: a handler is sending it, and holds it until `claimed_until` (a lease: a handler that dies while sending
 * leaves it to the next delivery of the message once the lease has run out). SENT: the provider accepted it.
 * FAILED: the last attempt failed; the message will be received again, or is in the dead-letter queue. SKIPPED:
 * the order carried no contact.
 */
export const DELIVERY_STATUSES = ['PENDING', 'SENT', 'FAILED', 'SKIPPED'] as const;

export const deliveryChannel = notifications.enum('delivery_channel', DELIVERY_CHANNELS);
export const deliveryStatus = notifications.enum('delivery_status', DELIVERY_STATUSES);

export const deliveries = notifications.table(
  'deliveries',
  {
    eventId: uuid('event_id').notNull(),
    channel: deliveryChannel('channel').notNull(),
    orderId: uuid('order_id').notNull(),
    /** the CloudEvents type, e.g. com.securecart.order.shipped */
    type: text('type').notNull(),
    /** the email address or E.164 number, in clear: customer service needs it. Logs only ever show it masked. */
    recipient: text('recipient'),
    status: deliveryStatus('status').notNull(),
    providerMessageId: text('provider_message_id'),
    /** send attempts, counting the successful one; an attempt cut short by a crash is not counted */
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    /** while PENDING: until when the handler sending it holds it */
    claimedUntil: timestamp('claimed_until', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    sentAt: timestamp('sent_at', { withTimezone: true }),
  },
  (t) => [
    primaryKey({ name: 'deliveries_pkey', columns: [t.eventId, t.channel] }),
    // what an order's customer was told, for customer service
    index('deliveries_order_idx').on(t.orderId, t.createdAt),
  ],
);

export type DeliveryRow = typeof deliveries.$inferSelect;
export type DeliveryChannel = (typeof DELIVERY_CHANNELS)[number];

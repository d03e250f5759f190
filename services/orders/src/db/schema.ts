/**
 * The orders service's own Postgres schema `orders`: orders, their status history, and the messaging tables
 * (outbox, processed events). No other service reads these tables; they hear about orders through events.
 * Migrations are generated from this file by drizzle-kit (pnpm --filter @securecart/orders db:generate).
 */
import { bigserial, index, integer, jsonb, pgSchema, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { EventPayload } from '@securecart/contracts';
import { outboxTable, processedEventsTable } from '@securecart/messaging';
import { ORDER_STATUSES } from '../domain/order-status.ts';

type Submitted = EventPayload<'order.submitted'>;

export const ORDERS_SCHEMA = 'orders';

export const orders = pgSchema(ORDERS_SCHEMA);

export const orderStatus = orders.enum('order_status', ORDER_STATUSES);

export const orderTable = orders.table(
  'orders',
  {
    /** the orderId checkout derived (UUIDv5 of customer and idempotency key): a resubmission collides here */
    id: uuid('id').primaryKey(),
    customerId: text('customer_id').notNull(),
    status: orderStatus('status').notNull(),
    lines: jsonb('lines').$type<Submitted['lines']>().notNull(),
    totalCents: integer('total_cents').notNull(),
    currency: text('currency').notNull(),
    shippingAddress: jsonb('shipping_address').$type<Submitted['shippingAddress']>().notNull(),
    contact: jsonb('contact').$type<Submitted['contact']>().notNull(),
    reason: text('reason'),
    // Millisecond precision: list cursors carry created_at through a JS Date, which has no microseconds.
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    version: integer('version').notNull().default(1),
  },
  (t) => [
    // a customer's orders, newest first (the order of `ORDER BY created_at DESC, id DESC`, nulls first included)
    index('orders_customer_created_idx').on(t.customerId, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    index('orders_status_created_idx').on(t.status, t.createdAt),
    // the admin list without a status filter: newest first, keyset pagination
    index('orders_created_idx').on(t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
  ],
);

export const statusHistory = orders.table(
  'status_history',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orderTable.id),
    status: orderStatus('status').notNull(),
    reason: text('reason'),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('status_history_order_idx').on(t.orderId, t.id)],
);

export const outbox = outboxTable(orders);
export const processedEvents = processedEventsTable(orders);

export type OrderRow = typeof orderTable.$inferSelect;
export type NewOrderRow = typeof orderTable.$inferInsert;
export type HistoryRow = typeof statusHistory.$inferSelect;

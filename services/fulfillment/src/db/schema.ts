/**
 * The fulfillment service's own Postgres schema `fulfillment`: one saga per order (the Step Functions role: its
 * state, step, attempts, last error and what each step produced), the outbox of fulfillment-events, and the
 * ledgers of the simulated payment gateway and carrier (in a real deployment those live at the provider; the
 * simulators keep them here so that "exactly one capture" can be checked).
 */
import { boolean, index, integer, jsonb, pgSchema, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { EventPayload } from '@securecart/contracts';
import { outboxTable, processedEventsTable } from '@securecart/messaging';
import { SAGA_STATUSES, SAGA_STEPS } from '../domain/saga.ts';

type Placed = EventPayload<'order.placed'>;

export const FULFILLMENT_SCHEMA = 'fulfillment';

export const fulfillment = pgSchema(FULFILLMENT_SCHEMA);

export const sagaStatus = fulfillment.enum('saga_status', SAGA_STATUSES);
export const sagaStep = fulfillment.enum('saga_step', SAGA_STEPS);

export const sagas = fulfillment.table(
  'sagas',
  {
    orderId: uuid('order_id').primaryKey(),
    customerId: text('customer_id').notNull(),
    status: sagaStatus('status').notNull(),
    /** the next step to run (or `done`) */
    step: sagaStep('step').notNull(),
    /** failed attempts of the current step */
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    /** lines, total, address, contact; null for a saga that only ever heard of the cancellation */
    order: jsonb('order').$type<Omit<Placed, 'paymentToken' | 'orderId' | 'customerId'>>(),
    /** needed until the capture is done; erased when the saga ends */
    paymentToken: text('payment_token'),
    reservationId: text('reservation_id'),
    paymentId: text('payment_id'),
    shipmentId: text('shipment_id'),
    carrier: text('carrier'),
    trackingNumber: text('tracking_number'),
    paymentVoided: boolean('payment_voided').notNull().default(false),
    paymentRefunded: boolean('payment_refunded').notNull().default(false),
    stockReleased: boolean('stock_released').notNull().default(false),
    failedStep: text('failed_step'),
    failureReason: text('failure_reason'),
    correlationId: text('correlation_id'),
    traceparent: text('traceparent'),
    /** who is running the saga now, and until when (a crashed runner's lease runs out) */
    leaseOwner: text('lease_owner'),
    leaseUntil: timestamp('lease_until', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    endedAt: timestamp('ended_at', { withTimezone: true }),
  },
  (t) => [index('sagas_status_updated_idx').on(t.status, t.updatedAt)],
);

/** The simulated gateway's ledger: one row per idempotency key (the provider's side of the call). */
export const simulatedPayments = fulfillment.table(
  'simulated_payments',
  {
    idempotencyKey: text('idempotency_key').primaryKey(),
    orderId: uuid('order_id').notNull(),
    operation: text('operation').$type<'capture' | 'void' | 'refund'>().notNull(),
    token: text('token'),
    amountCents: integer('amount_cents'),
    currency: text('currency'),
    /** captured | declined | unavailable | voided | refunded */
    status: text('status').notNull(),
    paymentId: text('payment_id'),
    attempts: integer('attempts').notNull().default(0),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('simulated_payments_order_idx').on(t.orderId)],
);

/** The simulated carrier's ledger: one row per idempotency key. */
export const simulatedShipments = fulfillment.table('simulated_shipments', {
  idempotencyKey: text('idempotency_key').primaryKey(),
  orderId: uuid('order_id').notNull(),
  /** created | refused | unavailable */
  status: text('status').notNull(),
  shipmentId: text('shipment_id'),
  trackingNumber: text('tracking_number'),
  attempts: integer('attempts').notNull().default(0),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export const outbox = outboxTable(fulfillment);
export const processedEvents = processedEventsTable(fulfillment);

export type SagaRow = typeof sagas.$inferSelect;

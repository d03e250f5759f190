/**
 * Pure orders logic outside the state machine: the public representations of an order (detail and summary),
 * list cursors, and the typed errors routes turn into problems.
 */
import type { Order, OrderSummary } from '@securecart/contracts';
import { decodeCursor, encodeCursor } from '@securecart/contracts';
import type { OrderRow } from '../db/schema.ts';
import type { OrderStatus } from './order-status.ts';

export interface StatusChange {
  status: OrderStatus;
  reason: string | null;
  at: Date;
}

export interface OrderWithHistory {
  order: OrderRow;
  history: StatusChange[];
}

export class OrderNotFound extends Error {
  readonly orderId: string;
  constructor(orderId: string) {
    super(`No order ${orderId}`);
    this.name = 'OrderNotFound';
    this.orderId = orderId;
  }
}

/** Another writer kept changing the order while this one tried to: rare enough that the client may simply retry. */
export class OrderChangedConcurrently extends Error {
  constructor(orderId: string) {
    super(`Order ${orderId} was changed by another request; retry`);
    this.name = 'OrderChangedConcurrently';
  }
}

export function toOrder({ order, history }: OrderWithHistory): Order {
  return {
    id: order.id,
    customerId: order.customerId,
    status: order.status,
    reason: order.reason,
    items: order.lines,
    totalCents: order.totalCents,
    currency: order.currency,
    shippingAddress: order.shippingAddress,
    contact: order.contact,
    statusHistory: history.map((h) => ({ status: h.status, reason: h.reason, at: h.at.toISOString() })),
    createdAt: order.createdAt.toISOString(),
    updatedAt: order.updatedAt.toISOString(),
  };
}

export function toOrderSummary(order: OrderRow): OrderSummary {
  return {
    id: order.id,
    customerId: order.customerId,
    status: order.status,
    itemCount: order.lines.reduce((sum, line) => sum + line.quantity, 0),
    totalCents: order.totalCents,
    currency: order.currency,
    createdAt: order.createdAt.toISOString(),
    updatedAt: order.updatedAt.toISOString(),
  };
}

/** Where a newest-first list stopped: the last order's creation time and id (ids break ties). */
export interface ListPosition {
  createdAt: Date;
  id: string;
}

export const encodeListCursor = (order: ListPosition): string => encodeCursor([order.createdAt.toISOString(), order.id]);

export function decodeListCursor(cursor: string): ListPosition | undefined {
  const value = decodeCursor(cursor);
  if (!Array.isArray(value) || value.length !== 2) return undefined;
  const [at, id] = value as unknown[];
  if (typeof at !== 'string' || typeof id !== 'string' || !UUID.test(id) || !ISO_INSTANT.test(at)) return undefined;
  const createdAt = new Date(at);
  // year 0000 is a JavaScript date but not a Postgres timestamp: no order was created then
  return Number.isNaN(createdAt.getTime()) || createdAt.getUTCFullYear() < 1 ? undefined : { createdAt, id: id.toLowerCase() };
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * Moves an order to a new status, all or nothing: in one transaction on the primary it reads the order, asks the
 * state machine, updates the row only if its version is still the one read (optimistic concurrency), appends the
 * history row and writes the event to the outbox. Two concurrent requests can never both succeed: the loser's
 * update matches no row, and its next attempt sees the new status and is refused like any late request.
 */
import type { CloudEvent } from '@securecart/messaging';
import { enqueueEvent } from '@securecart/messaging';
import { inTransaction, type Db } from '@securecart/db';
import { transition, type OrderStatus } from '../domain/order-status.ts';
import { OrderChangedConcurrently, OrderNotFound, type OrderWithHistory } from '../domain/order-view.ts';
import { appendHistory, findOrder, findOrderWithHistory, updateStatus } from './orders-repo.ts';
import { ORDERS_SCHEMA, type OrderRow } from './schema.ts';

export interface TransitionRequest {
  orderId: string;
  to: OrderStatus;
  reason: string;
  /** the order exists only for callers this accepts: anyone else gets OrderNotFound (a 404, never a 403) */
  visibleTo: (order: OrderRow) => boolean;
  /** the integration event of the change, built from the order as changed */
  event: (order: OrderRow) => CloudEvent;
}

const MAX_ATTEMPTS = 3;

/** Throws OrderNotFound, InvalidTransition or (after repeated lost races) OrderChangedConcurrently. */
export async function transitionOrder(primary: Db, request: TransitionRequest): Promise<OrderWithHistory> {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const changed = await inTransaction(primary, async (tx) => {
      const current = await findOrder(tx, request.orderId);
      if (!current || !request.visibleTo(current)) throw new OrderNotFound(request.orderId);
      transition(current.status, request.to);
      const updated = await updateStatus(tx, { id: current.id, expectedVersion: current.version, to: request.to, reason: request.reason });
      if (!updated) return undefined;
      await appendHistory(tx, updated.id, request.to, request.reason);
      await enqueueEvent(tx, ORDERS_SCHEMA, request.event(updated));
      return findOrderWithHistory(tx, updated.id);
    });
    if (changed) return changed;
  }
  throw new OrderChangedConcurrently(request.orderId);
}

/**
 * Moves an order to a new status, all or nothing. `applyTransition` does the work inside a caller's transaction: it
 * asks the state machine, updates the row only if its version is still the one read (optimistic concurrency),
 * appends the history row and writes the event to the outbox. (The fulfillment fact handlers do the same in one
 * statement: updateStatusForFact.) `transitionOrder` is the HTTP side's whole operation: one transaction on the
 * primary that reads the order and applies the transition, retried when another writer won the race (its next
 * attempt sees the new status and is refused like any late request), then the change announced on the status feed
 * after the commit.
 */
import type { CloudEvent } from '@securecart/messaging';
import { enqueueEvent } from '@securecart/messaging';
import { inTransaction, type Db } from '@securecart/db';
import { transition, type OrderStatus } from '../domain/order-status.ts';
import { OrderChangedConcurrently, OrderNotFound, type OrderWithHistory } from '../domain/order-view.ts';
import { announceStatusChange, statusChangeOf, type OrderStatusChange, type OrderStatusFeed } from '../status-feed.ts';
import { appendHistory, findOrder, findOrderWithHistory, updateStatus } from './orders-repo.ts';
import { ORDERS_SCHEMA, type OrderRow } from './schema.ts';

export interface StatusTransition {
  to: OrderStatus;
  reason: string | null;
  /** the integration event of the change, built from the order as changed */
  event: (order: OrderRow) => CloudEvent;
}

export interface TransitionRequest extends StatusTransition {
  orderId: string;
  reason: string;
  /** the order exists only for callers this accepts: anyone else gets OrderNotFound (a 404, never a 403) */
  visibleTo: (order: OrderRow) => boolean;
}

export interface AppliedTransition {
  order: OrderRow;
  /** to announce on the status feed once the transaction has committed */
  change: OrderStatusChange;
}

/**
 * Inside the caller's transaction. Throws InvalidTransition when the state machine refuses; undefined when the
 * order is no longer at the version `current` was read at (another writer got there first).
 */
export async function applyTransition(tx: Db, current: OrderRow, request: StatusTransition): Promise<AppliedTransition | undefined> {
  transition(current.status, request.to);
  const updated = await updateStatus(tx, { id: current.id, expectedVersion: current.version, to: request.to, reason: request.reason });
  if (!updated) return undefined;
  const history = await appendHistory(tx, updated.id, request.to, request.reason);
  await enqueueEvent(tx, ORDERS_SCHEMA, request.event(updated));
  return { order: updated, change: statusChangeOf(history) };
}

export interface TransitionEffects {
  /** where the committed change is announced for live streams */
  feed?: OrderStatusFeed | undefined;
  log?: { warn(obj: object, msg: string): void } | undefined;
}

const MAX_ATTEMPTS = 3;

/** Throws OrderNotFound, InvalidTransition or (after repeated lost races) OrderChangedConcurrently. */
export async function transitionOrder(primary: Db, request: TransitionRequest, effects: TransitionEffects = {}): Promise<OrderWithHistory> {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const changed = await inTransaction(primary, async (tx) => {
      const current = await findOrder(tx, request.orderId);
      if (!current || !request.visibleTo(current)) throw new OrderNotFound(request.orderId);
      const applied = await applyTransition(tx, current, request);
      if (!applied) return undefined;
      const withHistory = await findOrderWithHistory(tx, applied.order.id);
      return { withHistory: withHistory!, change: applied.change };
    });
    if (changed) {
      await announceStatusChange(effects.feed, changed.change, effects.log);
      return changed.withHistory;
    }
  }
  throw new OrderChangedConcurrently(request.orderId);
}

/**
 * What every fulfillment fact handler shares. A fact about an order is applied in one transaction
 * on the primary: its event id recorded in processed_events, the order locked, and the handler's decision carried
 * out (a transition with its history row and outbox event, or nothing). After the commit a transition is
 * announced on the status feed. The decision is one of:
 * - transition: the fact moves the order on;
 * - recorded: the fact changes no status (inventory.reserved, fulfillment.compensated);
 * - stale: the fact no longer applies (the order was cancelled, or is already past it): acknowledged and logged,
 *   never thrown, since a throw would be retried until the dead-letter queue;
 * - not-yet: the fact came before one it depends on (SQS does not keep order): retry later, so the message comes
 *   back after its backoff.
 * A fact about an order that does not exist yet is retried later too (never dropped). Either way the
 * transaction is rolled back, processed_events row included, so the retry starts afresh; the consumer counts it
 * `outcome="retry_later"`, not as a failure.
 */
import type { Logger } from 'pino';
import type { EventPayload } from '@securecart/contracts';
import { inTransaction, type Db } from '@securecart/db';
import { recordProcessed, retryLater, wakeOutboxRelays, type CloudEvent, type EventHandler } from '@securecart/messaging';
import { findOrderForUpdate } from '../db/orders-repo.ts';
import { ORDERS_SCHEMA, type OrderRow } from '../db/schema.ts';
import { applyTransition, type StatusTransition } from '../db/transition-order.ts';
import { announceStatusChange, type OrderStatusChange, type OrderStatusFeed } from '../status-feed.ts';

export type FulfillmentFactName = 'inventory.reserved' | 'payment.captured' | 'shipment.created' | 'fulfillment.failed' | 'fulfillment.compensated';

export interface FulfillmentFactDeps {
  /** the primary */
  db: Db;
  /** committed transitions are announced here, for live streams */
  feed?: OrderStatusFeed | undefined;
  log?: Logger | undefined;
}

export type FactDecision =
  | ({ outcome: 'transition' } & StatusTransition)
  | { outcome: 'recorded' }
  | { outcome: 'stale'; why: string }
  | { outcome: 'not-yet'; why: string };

/** What a fact handler decides from the order (locked, as it is now) and the fact. Pure: no I/O. */
export type DecideFact<N extends FulfillmentFactName> = (order: OrderRow, data: EventPayload<N>, event: CloudEvent<N>) => FactDecision;

/** Thrown inside the transaction (to roll it back) when the order, or an earlier fact, has not arrived yet: the
 * handler then asks for the message again later. */
export class FactArrivedEarly extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FactArrivedEarly';
  }
}

type Result =
  | { outcome: 'duplicate' | 'recorded' }
  | { outcome: 'stale'; why: string; status: OrderRow['status'] }
  | { outcome: 'transition'; from: OrderRow['status']; change: OrderStatusChange };

/** Records the fact and carries out the decision in one transaction on the locked order; FactArrivedEarly rolls it back. */
async function applyFact<N extends FulfillmentFactName>(name: N, decide: DecideFact<N>, db: Db, fact: CloudEvent<N>): Promise<Result> {
  const data = fact.data as EventPayload<N> & { orderId: string };
  return inTransaction(db, async (tx): Promise<Result> => {
    if (!(await recordProcessed(tx, ORDERS_SCHEMA, fact.id, fact.type))) return { outcome: 'duplicate' };
    const order = await findOrderForUpdate(tx, data.orderId);
    if (!order) throw new FactArrivedEarly(`${name} for order ${data.orderId}, which does not exist yet`);
    const decision = decide(order, data, fact);
    switch (decision.outcome) {
      case 'not-yet':
        throw new FactArrivedEarly(`${name} for order ${data.orderId}: ${decision.why}`);
      case 'stale':
        return { outcome: 'stale', why: decision.why, status: order.status };
      case 'recorded':
        return { outcome: 'recorded' };
      case 'transition': {
        // The row is locked, so its version cannot have moved since it was read. No NOTIFY: the worker wakes its
        // own relay after the commit (wakeOutboxRelays), which keeps this commit out of Postgres's notification lock.
        const applied = await applyTransition(tx, order, decision, { notify: false });
        if (!applied) throw new Error(`order ${order.id} changed while locked`);
        return { outcome: 'transition', from: order.status, change: applied.change };
      }
    }
  });
}

export function fulfillmentFactHandler<N extends FulfillmentFactName>(name: N, decide: DecideFact<N>, deps: FulfillmentFactDeps): EventHandler {
  return async (event, context) => {
    const fact = event as CloudEvent<N>;
    const log = deps.log?.child({ eventId: event.id, orderId: (fact.data as { orderId: string }).orderId, type: name });
    let result: Result;
    try {
      result = await applyFact(name, decide, deps.db, fact);
    } catch (error) {
      if (error instanceof FactArrivedEarly) return retryLater(error.message);
      throw error;
    }
    switch (result.outcome) {
      case 'transition':
        wakeOutboxRelays(ORDERS_SCHEMA);
        log?.info({ outcome: result.outcome, from: result.from, to: result.change.status, receiveCount: context.receiveCount }, `order ${result.from} → ${result.change.status}`);
        await announceStatusChange(deps.feed, result.change, log);
        return;
      case 'stale':
        log?.info({ outcome: result.outcome, status: result.status, why: result.why }, 'fact no longer applies: acknowledged');
        return;
      case 'duplicate':
        log?.info({ outcome: result.outcome }, 'fact already processed: acknowledged');
        return;
      case 'recorded':
        log?.info({ outcome: result.outcome }, 'fact recorded');
        return;
    }
  };
}

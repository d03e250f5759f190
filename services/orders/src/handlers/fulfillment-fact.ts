/**
 * What every fulfillment fact handler shares. A fact about an order is applied on the primary: the order is read, the
 * handler decides from it (a pure function), and the decision is carried out in one statement, the fact's event id
 * recorded in processed_events with it. After that a transition is announced on the status feed. The decision is one
 * of:
 * - transition: the fact moves the order on. Its update, history row, outbox event and processed_events row are one
 *   statement that applies only while the order is at the version read; if another writer (a cancel, a copy of the
 *   fact) got there first, the order is read again and the fact decided again;
 * - recorded: the fact changes no status (fulfillment.compensated);
 * - stale: the fact no longer applies (the order was cancelled, or is already past it): acknowledged and logged,
 *   never thrown, since a throw would be retried until the dead-letter queue;
 * - not-yet: the fact came before one it depends on (SQS does not keep order): retry later, so the message comes
 *   back after its backoff.
 * A fact about an order that does not exist yet is retried later too (never dropped). Neither writes anything, so the
 * retry starts afresh; the consumer counts it `outcome="retry_later"`, not as a failure. A fact whose id is in
 * processed_events already is a `duplicate`.
 */
import { setTimeout } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { EventPayload } from '@securecart/contracts';
import type { Db } from '@securecart/db';
import { recordProcessed, retryLater, wakeOutboxRelays, type CloudEvent, type EventHandler } from '@securecart/messaging';
import { findOrder, updateStatusForFact } from '../db/orders-repo.ts';
import { ORDERS_SCHEMA, type OrderRow } from '../db/schema.ts';
import type { StatusTransition } from '../db/transition-order.ts';
import { transition } from '../domain/order-status.ts';
import { announceStatusChange, statusChangeOf, type OrderStatusChange, type OrderStatusFeed } from '../status-feed.ts';

export type FulfillmentFactName = 'payment.captured' | 'shipment.created' | 'fulfillment.failed' | 'fulfillment.compensated';

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

/** What a fact handler decides from the order (as it is now) and the fact. Pure: no I/O. */
export type DecideFact<N extends FulfillmentFactName> = (order: OrderRow, data: EventPayload<N>, event: CloudEvent<N>) => FactDecision;

/** The order, or an earlier fact, has not arrived yet: the handler asks for the message again later. */
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

/** Reads of the order before a fact gives up (each lost race means another writer moved the order on). */
const MAX_READS = 5;
/** Pauses before reading again when a fact finds the order not yet where it applies: the fact it waits for is often
 * being applied at this moment (fulfillment publishes them milliseconds apart), and a deferral costs its backoff. */
const EARLY_RECHECK_MS = [20, 50, 100];

/** Decides the fact on the order as it is and carries the decision out in one statement; FactArrivedEarly writes nothing. */
async function applyFact<N extends FulfillmentFactName>(name: N, decide: DecideFact<N>, db: Db, fact: CloudEvent<N>): Promise<Result> {
  const data = fact.data as EventPayload<N> & { orderId: string };
  let rechecks = 0;
  for (let read = 1; read <= MAX_READS + EARLY_RECHECK_MS.length; read++) {
    const order = await findOrder(db, data.orderId);
    if (!order) throw new FactArrivedEarly(`${name} for order ${data.orderId}, which does not exist yet`);
    const decision = decide(order, data, fact);
    switch (decision.outcome) {
      case 'not-yet':
        if (rechecks < EARLY_RECHECK_MS.length) {
          await setTimeout(EARLY_RECHECK_MS[rechecks++]);
          continue;
        }
        throw new FactArrivedEarly(`${name} for order ${data.orderId}: ${decision.why}`);
      case 'stale':
        if (!(await recordProcessed(db, ORDERS_SCHEMA, fact.id, fact.type))) return { outcome: 'duplicate' };
        return { outcome: 'stale', why: decision.why, status: order.status };
      case 'recorded':
        return { outcome: (await recordProcessed(db, ORDERS_SCHEMA, fact.id, fact.type)) ? 'recorded' : 'duplicate' };
      case 'transition': {
        transition(order.status, decision.to);
        const changed: OrderRow = { ...order, status: decision.to, reason: decision.reason, version: order.version + 1 };
        // No NOTIFY: the worker wakes its own relay after the statement (wakeOutboxRelays), which keeps this commit out
        // of Postgres's notification lock.
        const history = await updateStatusForFact(db, { id: order.id, expectedVersion: order.version, to: decision.to, reason: decision.reason }, decision.event(changed), fact);
        if (history) return { outcome: 'transition', from: order.status, change: statusChangeOf(history) };
        // Another writer moved the order on (or a copy of this fact was applied) since it was read: decide again.
      }
    }
  }
  throw new Error(`${name} for order ${data.orderId}: the order kept changing while the fact was applied`);
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

/**
 * Intake: an `order.submitted` from checkout becomes a PLACED order. In one statement (atomic, one
 * round trip: placeSubmittedOrders) it records the event as processed, inserts the order and its first history row,
 * and writes `order.placed` to the outbox. The submissions of one received batch go into that one statement
 * together (the batch handler); if it fails, the consumer hands each submission to the single handler, so a bad one
 * fails alone.
 * Idempotent twice over: a redelivered message finds its event id recorded, and a second submission of the same
 * order (another event id, same orderId: checkout derives the id from the idempotency key) finds the id taken.
 * Either way it is acknowledged with no second order and no second `order.placed`. After the commit, each new PLACED
 * status is announced on the status feed.
 */
import type { Logger } from 'pino';
import type { EventPayload } from '@securecart/contracts';
import type { Db } from '@securecart/db';
import { createEvent, type BatchEventHandler, type CloudEvent, type EventHandler } from '@securecart/messaging';
import { findOrder, placeSubmittedOrders, type Submission } from '../db/orders-repo.ts';
import { announceStatusChange, statusChangeOf, type OrderStatusFeed } from '../status-feed.ts';
import { traceFrom } from './trace.ts';

export interface OrderSubmittedDeps {
  /** the primary */
  db: Db;
  /** each new PLACED status is announced here after the commit, for live streams */
  feed?: OrderStatusFeed | undefined;
  log?: Logger | undefined;
}

/** What intake writes for one `order.submitted`: the order's contents and the `order.placed` that announces it. */
function submissionOf(event: CloudEvent): Submission {
  // The consumer has validated `data` against the schema of the event's type, and routes only this type here.
  const data = event.data as EventPayload<'order.submitted'>;
  const { orderId, customerId, lines, totalCents, currency, shippingAddress, contact, paymentToken } = data;
  const contents = { customerId, lines, totalCents, currency, shippingAddress, contact };
  const placedEvent = createEvent({
    name: 'order.placed',
    source: 'orders-worker',
    subject: orderId,
    // The payment token goes on to fulfillment in the event; the orders table never stores it.
    data: { orderId, ...contents, paymentToken },
    ...traceFrom(event),
  });
  return { eventId: event.id, eventType: event.type, order: { id: orderId, ...contents }, placedEvent };
}

async function place(deps: OrderSubmittedDeps, events: CloudEvent[]): Promise<void> {
  const submissions = events.map(submissionOf);
  const results = await placeSubmittedOrders(deps.db, submissions);
  await Promise.all(
    results.map(async (result, i) => {
      const { eventId, order } = submissions[i]!;
      const log = deps.log?.child({ eventId, orderId: order.id });
      if (result.outcome === 'duplicate-order') {
        const existing = await findOrder(deps.db, order.id);
        if (existing && existing.customerId !== order.customerId) {
          log?.warn({ existingCustomerId: existing.customerId, customerId: order.customerId }, 'order id already taken by another customer');
        }
      }
      log?.info({ outcome: result.outcome }, result.outcome === 'placed' ? 'order placed' : 'submission already handled: acknowledged');
      if (result.outcome === 'placed') await announceStatusChange(deps.feed, statusChangeOf(result.history), log);
    }),
  );
}

/** One `order.submitted` at a time. */
export function orderSubmittedHandler(deps: OrderSubmittedDeps): EventHandler {
  return (event) => place(deps, [event]);
}

/** The `order.submitted` events of one received batch together: one statement, one commit. */
export function orderSubmittedBatchHandler(deps: OrderSubmittedDeps): BatchEventHandler {
  return (events) => place(deps, events);
}

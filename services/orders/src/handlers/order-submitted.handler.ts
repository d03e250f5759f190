/**
 * Intake (DESIGN §2.4): an `order.submitted` from checkout becomes a PLACED order. In one statement (atomic, one
 * round trip: placeSubmittedOrder) it records the event as processed, inserts the order and its first history row,
 * and writes `order.placed` to the outbox.
 * Idempotent twice over: a redelivered message finds its event id recorded, and a second submission of the same
 * order (another event id, same orderId: checkout derives the id from the idempotency key) finds the id taken.
 * Either way it is acknowledged with no second order and no second `order.placed`. After the commit, the new PLACED
 * status is announced on the status feed.
 */
import type { Logger } from 'pino';
import type { EventPayload } from '@securecart/contracts';
import type { Db } from '@securecart/db';
import { createEvent, type CloudEvent, type EventHandler } from '@securecart/messaging';
import { findOrder, placeSubmittedOrder } from '../db/orders-repo.ts';
import { announceStatusChange, statusChangeOf, type OrderStatusFeed } from '../status-feed.ts';
import { traceFrom } from './trace.ts';

export interface OrderSubmittedDeps {
  /** the primary */
  db: Db;
  /** the new PLACED status is announced here after the commit, for live streams */
  feed?: OrderStatusFeed | undefined;
  log?: Logger | undefined;
}

export function orderSubmittedHandler(deps: OrderSubmittedDeps): EventHandler {
  return async (event: CloudEvent) => {
    // The consumer has validated `data` against the schema of the event's type, and routes only this type here.
    const data = event.data as EventPayload<'order.submitted'>;
    const log = deps.log?.child({ eventId: event.id, orderId: data.orderId });
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
    const result = await placeSubmittedOrder(deps.db, { eventId: event.id, eventType: event.type, order: { id: orderId, ...contents } }, placedEvent);
    if (result.outcome === 'duplicate-order') {
      const existing = await findOrder(deps.db, data.orderId);
      if (existing && existing.customerId !== data.customerId) {
        log?.warn({ existingCustomerId: existing.customerId, customerId: data.customerId }, 'order id already taken by another customer');
      }
    }
    log?.info({ outcome: result.outcome }, result.outcome === 'placed' ? 'order placed' : 'submission already handled: acknowledged');
    if (result.outcome === 'placed') await announceStatusChange(deps.feed, statusChangeOf(result.history), log);
  };
}

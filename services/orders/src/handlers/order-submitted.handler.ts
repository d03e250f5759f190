/**
 * Intake (DESIGN §2.4): an `order.submitted` from checkout becomes a PLACED order. In one transaction it records
 * the event as processed, inserts the order and its first history row, and writes `order.placed` to the outbox.
 * Idempotent twice over: a redelivered message finds its event id recorded, and a second submission of the same
 * order (another event id, same orderId: checkout derives the id from the idempotency key) finds the id taken.
 * Either way it is acknowledged with no second order and no second `order.placed`. After the commit, the new PLACED
 * status is announced on the status feed.
 */
import type { Logger } from 'pino';
import type { EventPayload } from '@securecart/contracts';
import { inTransaction, type Db } from '@securecart/db';
import { createEvent, enqueueEvent, recordProcessed, type CloudEvent, type EventHandler } from '@securecart/messaging';
import { appendHistory, findOrder, insertPlacedOrder } from '../db/orders-repo.ts';
import { ORDERS_SCHEMA } from '../db/schema.ts';
import { announceStatusChange, statusChangeOf, type OrderStatusChange, type OrderStatusFeed } from '../status-feed.ts';
import { traceFrom } from './trace.ts';

export interface OrderSubmittedDeps {
  /** the primary */
  db: Db;
  /** the new PLACED status is announced here after the commit, for live streams */
  feed?: OrderStatusFeed | undefined;
  log?: Logger | undefined;
}

type Outcome = { outcome: 'placed'; change: OrderStatusChange } | { outcome: 'redelivered' | 'duplicate-order' };

export function orderSubmittedHandler(deps: OrderSubmittedDeps): EventHandler {
  return async (event: CloudEvent) => {
    // The consumer has validated `data` against the schema of the event's type, and routes only this type here.
    const data = event.data as EventPayload<'order.submitted'>;
    const log = deps.log?.child({ eventId: event.id, orderId: data.orderId });
    const result = await inTransaction(deps.db, async (tx): Promise<Outcome> => {
      if (!(await recordProcessed(tx, ORDERS_SCHEMA, event.id, event.type))) return { outcome: 'redelivered' };
      const placed = await insertPlacedOrder(tx, {
        id: data.orderId,
        customerId: data.customerId,
        lines: data.lines,
        totalCents: data.totalCents,
        currency: data.currency,
        shippingAddress: data.shippingAddress,
        contact: data.contact,
      });
      if (!placed) {
        const existing = await findOrder(tx, data.orderId);
        if (existing && existing.customerId !== data.customerId) {
          log?.warn({ existingCustomerId: existing.customerId, customerId: data.customerId }, 'order id already taken by another customer');
        }
        return { outcome: 'duplicate-order' };
      }
      const history = await appendHistory(tx, placed.id, 'PLACED', null);
      await enqueueEvent(
        tx,
        ORDERS_SCHEMA,
        createEvent({
          name: 'order.placed',
          source: 'orders-worker',
          subject: placed.id,
          // The payment token goes on to fulfillment in the event; the orders table never stores it.
          data: {
            orderId: placed.id,
            customerId: placed.customerId,
            lines: data.lines,
            totalCents: data.totalCents,
            currency: data.currency,
            shippingAddress: data.shippingAddress,
            contact: data.contact,
            paymentToken: data.paymentToken,
          },
          ...traceFrom(event),
        }),
      );
      return { outcome: 'placed', change: statusChangeOf(history) };
    });
    log?.info({ outcome: result.outcome }, result.outcome === 'placed' ? 'order placed' : 'submission already handled: acknowledged');
    if (result.outcome === 'placed') await announceStatusChange(deps.feed, result.change, log);
  };
}

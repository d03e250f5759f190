/**
 * payment.captured: fulfillment has captured the order's payment. PLACED → CONFIRMED, with `order.confirmed` for
 * the customer. An order past PLACED (confirmed by an earlier copy of the fact, shipped, cancelled, rejected,
 * refunded) is not changed: the fact is acknowledged.
 */
import { createEvent } from '@securecart/messaging';
import { fulfillmentFactHandler, type DecideFact, type FulfillmentFactDeps } from './fulfillment-fact.ts';
import { traceFrom } from './trace.ts';

export const decidePaymentCaptured: DecideFact<'payment.captured'> = (order, _data, fact) =>
  order.status === 'PLACED'
    ? {
        outcome: 'transition',
        to: 'CONFIRMED',
        reason: null,
        event: (confirmed) =>
          createEvent({
            name: 'order.confirmed',
            source: 'orders-worker',
            subject: confirmed.id,
            data: {
              orderId: confirmed.id,
              customerId: confirmed.customerId,
              contact: confirmed.contact,
              totalCents: confirmed.totalCents,
              currency: confirmed.currency,
            },
            ...traceFrom(fact),
          }),
      }
    : { outcome: 'stale', why: `the order is already ${order.status}` };

export const paymentCapturedHandler = (deps: FulfillmentFactDeps) => fulfillmentFactHandler('payment.captured', decidePaymentCaptured, deps);

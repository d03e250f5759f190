/**
 * shipment.created: the order has been handed to a carrier. CONFIRMED → SHIPPED, with `order.shipped` carrying the
 * carrier and tracking number. Fulfillment ships only after capturing the payment, so an order still PLACED means
 * SQS delivered this fact before payment.captured: it is thrown back to be retried once that one has been applied.
 * An order already SHIPPED or past it, or cancelled or rejected, is not changed: the fact is acknowledged.
 */
import { createEvent } from '@securecart/messaging';
import { fulfillmentFactHandler, type DecideFact, type FulfillmentFactDeps } from './fulfillment-fact.ts';
import { traceFrom } from './trace.ts';

export const decideShipmentCreated: DecideFact<'shipment.created'> = (order, data, fact) => {
  if (order.status === 'PLACED') return { outcome: 'not-yet', why: 'its payment.captured has not been applied yet' };
  if (order.status !== 'CONFIRMED') return { outcome: 'stale', why: `the order is already ${order.status}` };
  return {
    outcome: 'transition',
    to: 'SHIPPED',
    reason: null,
    event: (shipped) =>
      createEvent({
        name: 'order.shipped',
        source: 'orders-worker',
        subject: shipped.id,
        data: {
          orderId: shipped.id,
          customerId: shipped.customerId,
          contact: shipped.contact,
          carrier: data.carrier,
          trackingNumber: data.trackingNumber,
        },
        ...traceFrom(fact),
      }),
  };
};

export const shipmentCreatedHandler = (deps: FulfillmentFactDeps) => fulfillmentFactHandler('shipment.created', decideShipmentCreated, deps);

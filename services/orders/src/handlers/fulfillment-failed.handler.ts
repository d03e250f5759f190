/**
 * fulfillment.failed: a step failed for good, and fulfillment has already compensated (voided the payment,
 * released the stock). PLACED → REJECTED with the reason (`order.rejected`). CONFIRMED means the shipment step
 * failed after the capture: → REFUNDED with the reason (`order.refunded` for the whole total); a shipment failure
 * that overtook its payment.captured is retried until that one has confirmed the order. An order cancelled,
 * rejected, shipped or refunded already is not changed: the fact is acknowledged.
 */
import { createEvent } from '@securecart/messaging';
import { fulfillmentFactHandler, type DecideFact, type FulfillmentFactDeps } from './fulfillment-fact.ts';
import { traceFrom } from './trace.ts';

export const decideFulfillmentFailed: DecideFact<'fulfillment.failed'> = (order, data, fact) => {
  const trace = traceFrom(fact);
  // Fulfillment creates the shipment only after capturing the payment: a failure there on an order still PLACED
  // means SQS delivered it before payment.captured. Rejecting now would end the order REJECTED although it was paid
  // (and refunded); retried, it finds the order CONFIRMED and ends it REFUNDED, as the customer should see it.
  if (order.status === 'PLACED' && data.step === 'create-shipment') {
    return { outcome: 'not-yet', why: 'the shipment failed after a capture whose payment.captured has not been applied yet' };
  }
  if (order.status === 'PLACED') {
    return {
      outcome: 'transition',
      to: 'REJECTED',
      reason: data.reason,
      event: (rejected) =>
        createEvent({
          name: 'order.rejected',
          source: 'orders-worker',
          subject: rejected.id,
          data: { orderId: rejected.id, customerId: rejected.customerId, contact: rejected.contact, reason: data.reason },
          ...trace,
        }),
    };
  }
  if (order.status === 'CONFIRMED') {
    return {
      outcome: 'transition',
      to: 'REFUNDED',
      reason: data.reason,
      event: (refunded) =>
        createEvent({
          name: 'order.refunded',
          source: 'orders-worker',
          subject: refunded.id,
          data: {
            orderId: refunded.id,
            customerId: refunded.customerId,
            contact: refunded.contact,
            amountCents: refunded.totalCents,
            currency: refunded.currency,
          },
          ...trace,
        }),
    };
  }
  return { outcome: 'stale', why: `the order is already ${order.status}` };
};

export const fulfillmentFailedHandler = (deps: FulfillmentFactDeps) => fulfillmentFactHandler('fulfillment.failed', decideFulfillmentFailed, deps);

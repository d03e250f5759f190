/**
 * What each fulfillment fact does to an order in each of its six statuses, as the table it is: the
 * handlers' decisions are pure, so every pair is checked here; the integration tests check that they are carried out.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createEvent, type CloudEvent } from '@securecart/messaging';
import type { OrderRow } from '../src/db/schema.ts';
import { ORDER_STATUSES, type OrderStatus } from '../src/domain/order-status.ts';
import { decideFulfillmentCompensated } from '../src/handlers/fulfillment-compensated.handler.ts';
import { decideFulfillmentFailed } from '../src/handlers/fulfillment-failed.handler.ts';
import type { DecideFact, FactDecision, FulfillmentFactName } from '../src/handlers/fulfillment-fact.ts';
import { decidePaymentCaptured } from '../src/handlers/payment-captured.handler.ts';
import { decideShipmentCreated } from '../src/handlers/shipment-created.handler.ts';

const orderId = randomUUID();
const order = (status: OrderStatus): OrderRow => ({
  id: orderId,
  customerId: 'customer-1',
  status,
  lines: [{ productId: randomUUID(), sku: 'SKU-1', name: 'Kettle', quantity: 1, unitPriceCents: 3700 }],
  totalCents: 3700,
  currency: 'EUR',
  shippingAddress: { name: 'Ada', line1: '1 Road', city: 'London', postalCode: 'N1', country: 'GB' },
  contact: { phone: '+441234567890' },
  reason: null,
  createdAt: new Date(),
  updatedAt: new Date(),
  version: 1,
});

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const facts = {
  'payment.captured': { orderId, paymentId: 'pay-1', amountCents: 3700, currency: 'EUR' },
  'shipment.created': { orderId, shipmentId: 'shp-1', carrier: 'UPS', trackingNumber: '1Z' },
  'fulfillment.failed': { orderId, step: 'create-shipment', reason: 'no carrier' },
  'fulfillment.compensated': { orderId, voidedPayment: true, releasedStock: true },
} as const;

function decide<N extends FulfillmentFactName>(name: N, decideFact: DecideFact<N>, status: OrderStatus): { decision: FactDecision; fact: CloudEvent<N> } {
  const fact = createEvent({ name, source: 'fulfillment', subject: orderId, data: facts[name] as never, correlationId: 'corr-1', traceparent: TRACEPARENT });
  return { decision: decideFact(order(status), fact.data, fact), fact };
}

/** status → what the fact does: a target status, 'recorded', 'stale' or 'not-yet' (thrown back, retried). */
const TABLE: Record<FulfillmentFactName, Record<OrderStatus, string>> = {
  'payment.captured': { PLACED: 'CONFIRMED', CONFIRMED: 'stale', SHIPPED: 'stale', REJECTED: 'stale', CANCELLED: 'stale', REFUNDED: 'stale' },
  'shipment.created': { PLACED: 'not-yet', CONFIRMED: 'SHIPPED', SHIPPED: 'stale', REJECTED: 'stale', CANCELLED: 'stale', REFUNDED: 'stale' },
  // a failure at create-shipment: after the capture, so on a PLACED order it came before payment.captured
  'fulfillment.failed': { PLACED: 'not-yet', CONFIRMED: 'REFUNDED', SHIPPED: 'stale', REJECTED: 'stale', CANCELLED: 'stale', REFUNDED: 'stale' },
  'fulfillment.compensated': { PLACED: 'recorded', CONFIRMED: 'recorded', SHIPPED: 'recorded', REJECTED: 'recorded', CANCELLED: 'recorded', REFUNDED: 'recorded' },
};

const DECIDERS: { [N in FulfillmentFactName]: DecideFact<N> } = {
  'payment.captured': decidePaymentCaptured,
  'shipment.created': decideShipmentCreated,
  'fulfillment.failed': decideFulfillmentFailed,
  'fulfillment.compensated': decideFulfillmentCompensated,
};

const cases = (Object.keys(TABLE) as FulfillmentFactName[]).flatMap((name) => ORDER_STATUSES.map((status) => [name, status, TABLE[name][status]] as const));

describe('fulfillment facts, by order status', () => {
  it.each(cases)('%s on a %s order: %s', (name, status, expected) => {
    const { decision } = decide(name, DECIDERS[name] as DecideFact<typeof name>, status);
    expect(decision.outcome === 'transition' ? decision.to : decision.outcome).toBe(expected);
  });

  it('confirms with order.confirmed carrying the contact and total, and the fact’s correlation id and traceparent', () => {
    const { decision } = decide('payment.captured', decidePaymentCaptured, 'PLACED');
    if (decision.outcome !== 'transition') throw new Error('expected a transition');
    const event = decision.event({ ...order('CONFIRMED'), version: 2 });
    expect(event).toMatchObject({
      type: 'com.securecart.order.confirmed',
      source: '/securecart/orders-worker',
      subject: orderId,
      correlationid: 'corr-1',
      traceparent: TRACEPARENT,
      data: { orderId, customerId: 'customer-1', contact: { phone: '+441234567890' }, totalCents: 3700, currency: 'EUR' },
    });
    expect(decision.reason).toBeNull();
  });

  it('ships with order.shipped carrying the carrier and tracking number', () => {
    const { decision } = decide('shipment.created', decideShipmentCreated, 'CONFIRMED');
    if (decision.outcome !== 'transition') throw new Error('expected a transition');
    expect(decision.event(order('SHIPPED')).data).toEqual({ orderId, customerId: 'customer-1', contact: { phone: '+441234567890' }, carrier: 'UPS', trackingNumber: '1Z' });
  });

  it('rejects with the failure’s reason before a capture, and refunds the whole total with it after one', () => {
    const declined = createEvent({ name: 'fulfillment.failed', source: 'fulfillment', subject: orderId, data: { orderId, step: 'capture-payment', reason: 'card declined' } });
    const rejected = decideFulfillmentFailed(order('PLACED'), declined.data, declined);
    if (rejected.outcome !== 'transition') throw new Error('expected a transition');
    expect(rejected.reason).toBe('card declined');
    expect(rejected.event(order('REJECTED'))).toMatchObject({ type: 'com.securecart.order.rejected', data: { reason: 'card declined' } });

    const refunded = decide('fulfillment.failed', decideFulfillmentFailed, 'CONFIRMED').decision;
    if (refunded.outcome !== 'transition') throw new Error('expected a transition');
    expect(refunded.reason).toBe('no carrier');
    expect(refunded.event(order('REFUNDED'))).toMatchObject({ type: 'com.securecart.order.refunded', data: { amountCents: 3700, currency: 'EUR' } });
  });
});

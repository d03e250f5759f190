/**
 * fulfillment.compensated: fulfillment has undone what it had done for the order (voided the payment, released the
 * stock), after a cancel or a failure. The status change came with that cancel or failure; this fact is recorded
 * as processed, whatever the order's status.
 */
import { fulfillmentFactHandler, type DecideFact, type FulfillmentFactDeps } from './fulfillment-fact.ts';

export const decideFulfillmentCompensated: DecideFact<'fulfillment.compensated'> = () => ({ outcome: 'recorded' });

export const fulfillmentCompensatedHandler = (deps: FulfillmentFactDeps) =>
  fulfillmentFactHandler('fulfillment.compensated', decideFulfillmentCompensated, deps);

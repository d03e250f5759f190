/**
 * inventory.reserved: fulfillment holds the order's stock. No status of ours changes (the order stays PLACED until
 * the payment is captured); the fact is recorded as processed, whatever the order's status.
 */
import { fulfillmentFactHandler, type DecideFact, type FulfillmentFactDeps } from './fulfillment-fact.ts';

export const decideInventoryReserved: DecideFact<'inventory.reserved'> = () => ({ outcome: 'recorded' });

export const inventoryReservedHandler = (deps: FulfillmentFactDeps) => fulfillmentFactHandler('inventory.reserved', decideInventoryReserved, deps);

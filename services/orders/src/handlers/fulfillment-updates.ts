/**
 * The handler table of the `orders-fulfillment-updates` queue: one handler per fulfillment fact
 * (docs/architecture.md, Status updates from fulfillment).
 */
import type { EventName } from '@securecart/contracts';
import type { EventHandler } from '@securecart/messaging';
import { fulfillmentCompensatedHandler } from './fulfillment-compensated.handler.ts';
import { fulfillmentFailedHandler } from './fulfillment-failed.handler.ts';
import type { FulfillmentFactDeps } from './fulfillment-fact.ts';
import { paymentCapturedHandler } from './payment-captured.handler.ts';
import { shipmentCreatedHandler } from './shipment-created.handler.ts';

export function fulfillmentUpdateHandlers(deps: FulfillmentFactDeps): Partial<Record<EventName, EventHandler>> {
  return {
    'payment.captured': paymentCapturedHandler(deps),
    'shipment.created': shipmentCreatedHandler(deps),
    'fulfillment.failed': fulfillmentFailedHandler(deps),
    'fulfillment.compensated': fulfillmentCompensatedHandler(deps),
    // No longer subscribed (it changes no status). Copies the queue still holds from before an upgrade are
    // acknowledged, not failed: failed, they would end in the dead-letter queue, whose alarm rolls the deployment back.
    'inventory.reserved': async (event) => {
      deps.log?.info({ eventId: event.id, type: 'inventory.reserved', outcome: 'ignored' }, 'inventory.reserved is no longer consumed here: acknowledged');
    },
  };
}

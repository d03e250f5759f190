import type { EventHandler } from '@securecart/messaging';
import type { EventName } from '@securecart/contracts';
import type { SagaDeps } from '../saga/run-saga.ts';
import { orderCancelledHandler } from './order-cancelled.handler.ts';
import { orderPlacedHandler } from './order-placed.handler.ts';

/** The handler table of the `fulfillment` queue. */
export function fulfillmentHandlers(deps: SagaDeps): Partial<Record<EventName, EventHandler>> {
  return { 'order.placed': orderPlacedHandler(deps), 'order.cancelled': orderCancelledHandler(deps) };
}

/**
 * order.cancelled undoes whatever the order's saga has done if it has not shipped (void the payment, release the
 * stock) and ends it CANCELLED with fulfillment.compensated; if it has shipped, refunds the payment. Idempotent:
 * an ended saga ignores it. If order.placed has not arrived yet, a CANCELLED tombstone makes sure it never runs.
 */
import type { CloudEvent, EventHandler } from '@securecart/messaging';
import { cancelSaga, type SagaDeps } from '../saga/run-saga.ts';

export function orderCancelledHandler(deps: SagaDeps): EventHandler {
  return async (event: CloudEvent, context) => {
    const outcome = await cancelSaga(deps, event as CloudEvent<'order.cancelled'>, context.messageId ?? event.id);
    deps.log?.info({ eventId: event.id, orderId: event.subject, outcome }, 'cancellation handled');
  };
}

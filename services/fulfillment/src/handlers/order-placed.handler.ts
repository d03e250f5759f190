/**
 * order.placed starts (or, redelivered, resumes) the order's fulfillment saga. The saga row is this handler's
 * idempotency record: a redelivery finds it, and carries on from its last completed step or, if it has ended,
 * does nothing. A transient failure propagates, so the message comes back after a backoff.
 */
import type { EventPayload } from '@securecart/contracts';
import { TRACEPARENT, type CloudEvent, type EventHandler } from '@securecart/messaging';
import { startSaga } from '../db/sagas-repo.ts';
import { runSaga, type SagaDeps } from '../saga/run-saga.ts';

export function orderPlacedHandler(deps: SagaDeps): EventHandler {
  return async (event: CloudEvent, context) => {
    const data = event.data as EventPayload<'order.placed'>;
    const log = deps.log?.child({ eventId: event.id, orderId: data.orderId });
    // the lease is this message's: its next delivery may take it over (see withLease)
    const owner = context.messageId ?? event.id;
    const created = await startSaga(
      deps.db,
      data,
      {
        correlationId: event.correlationid ?? event.id,
        ...(event.traceparent && TRACEPARENT.test(event.traceparent) ? { traceparent: event.traceparent } : {}),
      },
      { owner, leaseMs: deps.leaseMs },
    );
    const saga = await runSaga(deps, data.orderId, owner, created);
    log?.info({ status: saga?.status, step: saga?.step, receiveCount: context.receiveCount }, 'saga run finished');
  };
}

/**
 * What an event caused by another event carries on: the correlation id (or, when upstream had none, the causing
 * event's id) and a valid W3C traceparent. A malformed traceparent from upstream is dropped rather than failing
 * the handler: it would fail on every redelivery and walk the message to the DLQ.
 */
import { TRACEPARENT, type CloudEvent } from '@securecart/messaging';

export function traceFrom(event: CloudEvent): { correlationId: string; traceparent?: string } {
  return {
    correlationId: event.correlationid ?? event.id,
    ...(event.traceparent && TRACEPARENT.test(event.traceparent) ? { traceparent: event.traceparent } : {}),
  };
}

/**
 * What an event caused by another event carries on: the correlation id (or, when upstream had none, the causing
 * event's id) and a valid W3C traceparent. A malformed traceparent from upstream is dropped rather than failing
 * the handler: it would fail on every redelivery and walk the message to the DLQ.
 *
 * With tracing on, the traceparent is the active span's (the consumer span handling this event) when that span is
 * on the event's trace, so what the handler publishes continues the trace under it. A batch's span is a trace of its
 * own (linked to each event): then each event's own traceparent is carried on.
 */
import { TRACEPARENT, type CloudEvent } from '@securecart/messaging';
import { currentTraceparent, traceIdOf, tracingEnabled } from '@securecart/telemetry';

export function traceFrom(event: CloudEvent): { correlationId: string; traceparent?: string } {
  const upstream = event.traceparent && TRACEPARENT.test(event.traceparent) ? event.traceparent : undefined;
  let traceparent = upstream;
  if (tracingEnabled()) {
    const current = currentTraceparent();
    if (current && (!upstream || traceIdOf(current) === traceIdOf(upstream))) traceparent = current;
  }
  return { correlationId: event.correlationid ?? event.id, ...(traceparent ? { traceparent } : {}) };
}

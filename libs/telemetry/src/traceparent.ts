/**
 * W3C Trace Context `traceparent` strings (version-traceid-parentid-flags), parsed and formatted without loading
 * OpenTelemetry: what the events carry, and what a span's context turns into.
 */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

export interface TraceparentParts {
  traceId: string;
  spanId: string;
  traceFlags: number;
}

/** The parts of a version-00 traceparent, or undefined when it is missing, malformed or all zeros. */
export function parseTraceparent(traceparent: string | undefined): TraceparentParts | undefined {
  const match = traceparent === undefined ? null : TRACEPARENT.exec(traceparent);
  if (!match || match[1] === ZERO_TRACE || match[2] === ZERO_SPAN) return undefined;
  return { traceId: match[1]!, spanId: match[2]!, traceFlags: Number.parseInt(match[3]!, 16) };
}

export function formatTraceparent(parts: TraceparentParts): string {
  return `00-${parts.traceId}-${parts.spanId}-${(parts.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** The trace id of a traceparent (undefined when it is not one). */
export const traceIdOf = (traceparent: string | undefined): string | undefined => parseTraceparent(traceparent)?.traceId;

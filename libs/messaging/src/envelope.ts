/**
 * CloudEvents 1.0 envelopes (JSON structured mode) for every SecureCart event, with the `traceparent` and
 * `correlationid` extensions. `data` is validated against the event's TypeBox schema on the way in and out.
 */
import { randomUUID } from 'node:crypto';
import { Compile } from 'typebox/compile';
import type { Validator } from 'typebox/compile';
import { dataSchemaUri, EventData, eventType, EVENT_NAMES, type EventName, type EventPayload } from '@securecart/contracts';

export interface CloudEvent<N extends EventName = EventName> {
  specversion: '1.0';
  id: string;
  type: string;
  source: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  dataschema: string;
  traceparent?: string;
  correlationid?: string;
  data: EventPayload<N>;
}

export interface NewEvent<N extends EventName> {
  name: N;
  /** the publishing service, e.g. "checkout" -> source "/securecart/checkout" */
  source: string;
  /** the order or product id */
  subject: string;
  data: EventPayload<N>;
  id?: string;
  time?: Date;
  traceparent?: string;
  correlationId?: string;
}

export class InvalidEventError extends Error {
  override name = 'InvalidEventError';
}

/** One compiled (JIT) validator per event type, built on first use: interpreting the schema on every message
 * was about 5% of an intake worker's CPU (docs/performance.md). */
const validators = new Map<EventName, Validator>();

function validatorOf(name: EventName): Validator {
  let validator = validators.get(name);
  if (!validator) {
    validator = Compile(EventData[name]) as Validator;
    validators.set(name, validator);
  }
  return validator;
}

function checkData(name: EventName, data: unknown): void {
  const validator = validatorOf(name);
  if (!validator.Check(data)) {
    const first = validator.Errors(data)[0];
    throw new InvalidEventError(`${name}: data${first?.instancePath ?? ''} ${first?.message ?? 'is invalid'}`);
  }
}

/** W3C Trace Context: version-traceid-parentid-flags. */
export const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export function createEvent<N extends EventName>(event: NewEvent<N>): CloudEvent<N> {
  checkData(event.name, event.data);
  if (event.traceparent !== undefined && !TRACEPARENT.test(event.traceparent)) {
    throw new InvalidEventError(`traceparent is not W3C Trace Context: ${event.traceparent}`);
  }
  return {
    specversion: '1.0',
    id: event.id ?? randomUUID(),
    type: eventType(event.name),
    source: `/securecart/${event.source}`,
    subject: event.subject,
    time: (event.time ?? new Date()).toISOString(),
    datacontenttype: 'application/json',
    dataschema: dataSchemaUri(event.name),
    ...(event.traceparent ? { traceparent: event.traceparent } : {}),
    ...(event.correlationId ? { correlationid: event.correlationId } : {}),
    data: event.data,
  };
}

const TYPE_PREFIX = 'com.securecart.';

/** The short name of a CloudEvents type this codebase knows, or undefined. */
export function eventNameOf(type: string): EventName | undefined {
  const name = type.startsWith(TYPE_PREFIX) ? type.slice(TYPE_PREFIX.length) : '';
  return (EVENT_NAMES as string[]).includes(name) ? (name as EventName) : undefined;
}

/** Parses and validates an envelope received from a queue. Throws InvalidEventError on anything malformed. */
export function parseEvent(body: string): CloudEvent {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new InvalidEventError('the message body is not JSON');
  }
  const e = value as Partial<CloudEvent> | null;
  if (!e || typeof e !== 'object' || e.specversion !== '1.0' || typeof e.id !== 'string' || typeof e.type !== 'string') {
    throw new InvalidEventError('the message is not a CloudEvents 1.0 envelope');
  }
  const name = eventNameOf(e.type);
  if (!name) throw new InvalidEventError(`unknown event type ${e.type}`);
  checkData(name, e.data);
  return e as CloudEvent;
}

/**
 * Idempotent checkout. The order id is derived from (customer, Idempotency-Key), so every retry of
 * one checkout, and every concurrent copy of it, names the same order: the intake's primary key does the rest. The
 * request hash tells a retry (same body) from a reuse of the key for something else (422). Pure.
 */
import { createHash } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';

const ORDER_NAMESPACE = '6f1d3a52-2b0e-4c39-9a57-8d8f5d0c7e21';

export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export function orderIdFor(customerId: string, idempotencyKey: string): string {
  return uuidv5(`${customerId.length}:${customerId}:${idempotencyKey}`, ORDER_NAMESPACE);
}

/** The id of the order.submitted event of an order: the same for every retry, so consumers can dedupe on it. */
export function submittedEventIdFor(orderId: string): string {
  return uuidv5(`order.submitted:${orderId}`, ORDER_NAMESPACE);
}

/** JSON with keys sorted at every level, so the same body always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function requestHash(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('base64url');
}

/**
 * What every orders route plugin is given, and the few helpers they share: domain errors as problems, and the
 * trace context an HTTP request hands on to the events it causes.
 */
import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { ReplicaRouter } from '@securecart/db';
import { conflict, notFound, ProblemResponse } from '@securecart/http-kit';
import { TRACEPARENT } from '@securecart/messaging';
import { InvalidTransition } from '../domain/order-status.ts';
import { OrderChangedConcurrently, OrderNotFound } from '../domain/order-view.ts';
import type { OrderStatusFeed } from '../status-feed.ts';
import type { RecentWrites } from './recent-writes.ts';

export interface OrdersRouteContext {
  db: ReplicaRouter;
  /** callers who changed an order a moment ago read from the primary */
  recentWrites: RecentWrites;
  /** committed status changes are announced here for live streams; without it streams only poll */
  feed?: OrderStatusFeed | undefined;
}

export const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
export const security = [{ bearer: [] }];
export const errors = { 400: ProblemResponse, 401: ProblemResponse };

/** Maps the domain's typed errors to problems; anything else goes on to the shared error handler. */
export function asProblem(error: unknown): never {
  if (error instanceof OrderNotFound) throw notFound(error.message);
  if (error instanceof InvalidTransition) throw conflict(error.message, 'invalid-transition');
  if (error instanceof OrderChangedConcurrently) throw conflict(error.message, 'concurrent-change');
  throw error;
}

/** The request id correlates the event with the request's logs; a valid W3C traceparent is carried as is. */
export function traceOf(request: FastifyRequest): { correlationId: string; traceparent?: string } {
  const traceparent = request.headers.traceparent;
  return {
    correlationId: request.id,
    ...(typeof traceparent === 'string' && TRACEPARENT.test(traceparent) ? { traceparent } : {}),
  };
}

/**
 * A POST whose body is optional: no body at all counts as `{}`, so the body schema still refuses unknown fields. A
 * JSON `null` is a body, and not an object: the schema refuses it (`??=` took it for none, and refunded the order).
 */
export function defaultEmptyBody(request: FastifyRequest, _reply: unknown, done: () => void): void {
  if (request.body === undefined) request.body = {};
  done();
}

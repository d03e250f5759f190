/**
 * Rate limits per customer (verified `sub`) or, for anonymous requests, per client address, counted per service:
 * each service has its own limit (checkout's is lower than catalog's), so browsing the catalog must not use up a
 * customer's checkouts. Backed by Redis so the limit holds across a service's tasks; when Redis fails the limiter
 * fails open (serving beats refusing).
 */
import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import { tooManyRequests } from './errors.ts';
import { rateLimitStore, SharedRateCounter } from './rate-limit-store.ts';

export interface RateLimitOptions {
  /** requests per window per key */
  max: number;
  windowMs: number;
  /** shared store; omit for a per-process limit (embedded mode) */
  redis?: Redis;
  /** Redis key prefix, so several deployments or test runs can share one Redis */
  namespace?: string;
  /** whose limit this is (the service's name): each service counts its own requests */
  scope: string;
}

export const rateLimitPlugin = fp<RateLimitOptions>(
  async (app, options) => {
    const counter = options.redis
      ? new SharedRateCounter({ redis: options.redis, prefix: `${options.namespace ?? 'securecart'}:rl:${options.scope}:` })
      : undefined;
    if (counter) app.addHook('onClose', async () => counter.stop());
    await app.register(rateLimit, {
      global: true,
      max: options.max,
      timeWindow: options.windowMs,
      ...(counter ? { store: rateLimitStore(counter) } : {}),
      skipOnError: true,
      // Limit headers on every response would cost every response; a 429 says Retry-After.
      addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
      addHeaders: { 'x-ratelimit-limit': true, 'x-ratelimit-remaining': true, 'x-ratelimit-reset': true, 'retry-after': true },
      keyGenerator: (request) => (request.user ? `u:${request.user.sub}` : `ip:${request.ip}`),
      errorResponseBuilder: (_request, context) => tooManyRequests(Math.max(1, Math.ceil(context.ttl / 1000))),
    });
  },
  { name: 'securecart-rate-limit', dependencies: ['securecart-auth'] },
);

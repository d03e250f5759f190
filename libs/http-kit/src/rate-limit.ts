/**
 * Rate limits per customer (verified `sub`) or, for anonymous requests, per client address. Backed by Redis so
 * the limit holds across tasks; when Redis fails the limiter fails open (serving beats refusing).
 */
import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import { tooManyRequests } from './errors.ts';

export interface RateLimitOptions {
  /** requests per window per key */
  max: number;
  windowMs: number;
  /** shared store; omit for a per-process limit (embedded mode) */
  redis?: Redis;
  /** Redis key prefix, so several deployments or test runs can share one Redis */
  namespace?: string;
}

export const rateLimitPlugin = fp<RateLimitOptions>(
  async (app, options) => {
    await app.register(rateLimit, {
      global: true,
      max: options.max,
      timeWindow: options.windowMs,
      ...(options.redis ? { redis: options.redis } : {}),
      nameSpace: `${options.namespace ?? 'securecart'}:rl:`,
      skipOnError: true,
      keyGenerator: (request) => (request.user ? `u:${request.user.sub}` : `ip:${request.ip}`),
      errorResponseBuilder: (_request, context) => tooManyRequests(Math.max(1, Math.ceil(context.ttl / 1000))),
    });
  },
  { name: 'securecart-rate-limit', dependencies: ['securecart-auth'] },
);

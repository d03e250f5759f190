/**
 * Builds the catalog's HTTP app from its dependencies. Never listens, never reads the environment:
 * server.ts does that, tests and the embedded runner call this directly.
 */
import type { Redis } from 'ioredis';
import { Gauge } from 'prom-client';
import type { Cache } from '@securecart/cache';
import type { ReplicaRouter } from '@securecart/db';
import { createHttpApp, primaryReadiness, registerReadRoutingMetrics, type App, type HttpAppOptions, type TokenVerifier } from '@securecart/http-kit';
import { adminProductRoutes } from './routes/admin-products.ts';
import { categoryRoutes } from './routes/categories.ts';
import { internalRoutes } from './routes/internal.ts';
import { productRoutes } from './routes/products.ts';

export interface CatalogDeps {
  db: ReplicaRouter;
  cache: Cache;
  verifier: TokenVerifier;
  /** backs the rate limiter across tasks; without it the limit is per process */
  redis?: Redis;
  logger?: HttpAppOptions['logger'];
}

export interface CatalogOptions {
  namespace?: string;
  cacheTtlSeconds?: number;
  freshWindowMs?: number;
  rateLimit?: { max: number; windowMs: number };
  /** proxies in front that append to X-Forwarded-For (createHttpApp's trustedProxyHops) */
  trustedProxyHops?: number;
  bodyLimitBytes?: number;
  defaultMetrics?: boolean;
}

export const CATALOG_VERSION = '0.1.0';

export async function buildCatalogApp(deps: CatalogDeps, options: CatalogOptions = {}): Promise<App> {
  const app = await createHttpApp({
    service: 'catalog',
    logger: deps.logger,
    verifier: deps.verifier,
    bodyLimitBytes: options.bodyLimitBytes,
    defaultMetrics: options.defaultMetrics,
    trustedProxyHops: options.trustedProxyHops,
    docs: {
      title: 'SecureCart catalog',
      version: CATALOG_VERSION,
      description: 'Products, categories and stock. Reads are cached (ETag, Cache-Control) and served from the read replica.',
    },
    rateLimit: {
      max: options.rateLimit?.max ?? 600,
      windowMs: options.rateLimit?.windowMs ?? 60_000,
      ...(deps.redis ? { redis: deps.redis } : {}),
      namespace: options.namespace ?? 'securecart',
    },
    readiness: {
      // Redis is not a readiness dependency: without it the catalog serves from SQL.
      primary: primaryReadiness(deps.db),
    },
  });

  registerReadRoutingMetrics(app.metrics, deps.db);
  new Gauge({
    name: 'catalog_cache',
    help: 'Cache lookups by outcome',
    labelNames: ['outcome'],
    registers: [app.metrics],
    collect() {
      const s = deps.cache.stats;
      this.set({ outcome: 'hot_hit' }, s.hotHits);
      this.set({ outcome: 'shared_hit' }, s.sharedHits);
      this.set({ outcome: 'load' }, s.loads);
      this.set({ outcome: 'store_error' }, s.storeErrors);
    },
  });

  const ctx = {
    db: deps.db,
    cache: deps.cache,
    cacheTtlSeconds: options.cacheTtlSeconds ?? 300,
    freshWindowMs: options.freshWindowMs ?? 3_000,
  };
  await app.register(async (scope) => productRoutes(scope as App, ctx));
  await app.register(async (scope) => categoryRoutes(scope as App, ctx));
  await app.register(async (scope) => adminProductRoutes(scope as App, ctx));
  await app.register(async (scope) => internalRoutes(scope as App, ctx));
  return app;
}

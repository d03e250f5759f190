/**
 * Builds the catalog app on the run's real infrastructure: Postgres primary + replica, Redis, and the dev
 * identity provider over HTTP. Options let a test put a cuttable proxy in front of any dependency.
 */
import { drizzle } from 'drizzle-orm/node-postgres';
import type { Redis } from 'ioredis';
import { Cache, connectRedis, RedisStore } from '@securecart/cache';
import { createPool, migrateWithUrl, ReplicaRouter } from '@securecart/db';
import { createJwksVerifier, type App } from '@securecart/http-kit';
import type { Infra, TestIdentityProvider } from '@securecart/testing';
import { buildCatalogApp, type CatalogOptions } from '../src/app.ts';
import { catalogMigrations } from '../src/db/migrations.ts';

export interface TestCatalog {
  app: App;
  router: ReplicaRouter;
  cache: Cache;
  close(): Promise<void>;
}

export interface TestCatalogOptions extends CatalogOptions {
  databaseUrl?: string;
  databaseReadUrl?: string;
  redisUrl?: string;
  maxLagMs?: number;
  hotTtlMs?: number;
}

export async function migrateCatalog(infra: Infra): Promise<void> {
  await migrateWithUrl(infra.databaseUrl, catalogMigrations);
}

export async function buildTestCatalog(infra: Infra, idp: TestIdentityProvider, options: TestCatalogOptions = {}): Promise<TestCatalog> {
  const primaryPool = createPool(options.databaseUrl ?? infra.databaseUrl, { name: 'catalog-test', connectTimeoutMs: 1_000 });
  const replicaPool = createPool(options.databaseReadUrl ?? infra.databaseReadUrl, { name: 'catalog-replica', connectTimeoutMs: 1_000 });
  const redisUrl = options.redisUrl ?? infra.redisUrl;
  const redis: Redis = await connectRedis(redisUrl, { name: 'catalog-test' });
  const subscriber: Redis = await connectRedis(redisUrl, { name: 'catalog-test-sub' });
  const router = new ReplicaRouter({
    primary: drizzle(primaryPool),
    replica: drizzle(replicaPool),
    maxLagMs: options.maxLagMs ?? 1_000,
    checkIntervalMs: 200,
  });
  const cache = new Cache({ store: new RedisStore(redis, subscriber), namespace: infra.namespace, hotTtlMs: options.hotTtlMs ?? 5_000 });
  await Promise.all([router.start(), cache.start()]);
  const app = await buildCatalogApp(
    { db: router, cache, verifier: createJwksVerifier(idp), redis, logger: false },
    { namespace: infra.namespace, ...options },
  );
  await app.ready();
  return {
    app,
    router,
    cache,
    close: async () => {
      await app.close();
      router.stop();
      await cache.stop();
      redis.disconnect();
      subscriber.disconnect();
      await Promise.allSettled([primaryPool.end(), replicaPool.end()]);
    },
  };
}

let counter = 0;
/** A valid product body with unique sku and slug, so each test creates the data it needs. */
export function newProduct(overrides: Record<string, unknown> = {}) {
  const n = `${Date.now().toString(36)}-${(counter++).toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  return {
    sku: `T-${n}`,
    slug: `test-product-${n}`,
    name: `Test product ${n}`,
    description: 'A product made by a test',
    priceCents: 1999,
    currency: 'USD',
    category: 'test-things',
    stock: 5,
    ...overrides,
  };
}

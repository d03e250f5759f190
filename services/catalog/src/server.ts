/**
 * The catalog as a deployable process: reads and validates the environment, connects to Postgres (primary and
 * replica), Redis and the identity provider's JWKS, migrates its schema, serves, and shuts down cleanly.
 */
import { drizzle } from 'drizzle-orm/node-postgres';
import { pino } from 'pino';
import { Cache, connectRedis, MemoryStore, RedisStore, type SharedStore } from '@securecart/cache';
import { loadConfigOrExit } from '@securecart/config';
import { createPool, migrateWithUrl, ReplicaRouter } from '@securecart/db';
import { createJwksVerifier, serve } from '@securecart/http-kit';
import { buildCatalogApp } from './app.ts';
import { loadCatalogConfig, type CatalogConfig } from './config.ts';
import { catalogMigrations } from './db/migrations.ts';

export async function startCatalogServer(config: CatalogConfig) {
  const log = pino({ level: config.LOG_LEVEL, base: { service: 'catalog' }, redact: ['req.headers.authorization'] });
  const onPoolError = (error: Error) => log.warn({ err: error }, 'idle database connection failed');
  const primaryPool = createPool(config.DATABASE_URL, { name: 'catalog', onError: onPoolError });
  const replicaPool = config.DATABASE_READ_URL
    ? createPool(config.DATABASE_READ_URL, { name: 'catalog-replica', onError: onPoolError })
    : undefined;
  await migrateWithUrl(config.DATABASE_URL, catalogMigrations);

  const redis = config.REDIS_URL ? await connectRedis(config.REDIS_URL, { name: 'catalog' }) : undefined;
  const subscriber = config.REDIS_URL ? await connectRedis(config.REDIS_URL, { name: 'catalog-sub' }) : undefined;
  const store: SharedStore = redis && subscriber ? new RedisStore(redis, subscriber) : new MemoryStore();

  const db = new ReplicaRouter({
    primary: drizzle(primaryPool),
    ...(replicaPool ? { replica: drizzle(replicaPool) } : {}),
    maxLagMs: config.REPLICA_MAX_LAG_MS,
    log,
  });
  const cache = new Cache({ store, namespace: config.CACHE_NAMESPACE, hotTtlMs: config.CACHE_HOT_TTL_MS, log });
  await Promise.all([db.start(), cache.start()]);

  const app = await buildCatalogApp(
    {
      db,
      cache,
      verifier: createJwksVerifier({ jwksUrl: config.AUTH_JWKS_URL, issuer: config.AUTH_ISSUER, audience: config.AUTH_AUDIENCE }),
      ...(redis ? { redis } : {}),
      logger: log,
    },
    {
      namespace: config.CACHE_NAMESPACE,
      cacheTtlSeconds: config.CACHE_TTL_SECONDS,
      rateLimit: { max: config.RATE_LIMIT_MAX, windowMs: config.RATE_LIMIT_WINDOW_MS },
      defaultMetrics: true,
    },
  );
  const close = async () => {
    db.stop();
    await cache.stop();
    await Promise.allSettled([primaryPool.end(), replicaPool?.end(), redis?.quit(), subscriber?.quit()]);
  };
  return { app, close };
}

async function main() {
  const config = loadConfigOrExit('catalog', () => loadCatalogConfig());
  const { app, close } = await startCatalogServer(config);
  await serve(app, { port: config.PORT, host: config.HOST, cleanup: close });
}

if (import.meta.main) await main();

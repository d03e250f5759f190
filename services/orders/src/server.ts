/**
 * The orders HTTP service as a deployable process: reads and validates the environment, connects to Postgres
 * (primary and replica), Redis (rate limits, read-your-writes, and the status feed that wakes live streams) and
 * the identity provider's JWKS, migrates its schema, serves, and shuts down cleanly (open live streams are ended).
 * Orders are created by the orders-worker process (worker.ts), not here.
 */
import { drizzle } from 'drizzle-orm/node-postgres';
import { pino } from 'pino';
import { connectRedis } from '@securecart/cache';
import { loadConfigOrExit, tracingEndpoints } from '@securecart/config';
import { startTracing } from '@securecart/telemetry';
import { createPool, describeDatabaseTls, migrateWithUrl, ReplicaRouter } from '@securecart/db';
import { createJwksVerifier, serve } from '@securecart/http-kit';
import { buildOrdersApp } from './app.ts';
import { loadOrdersConfig, type OrdersConfig } from './config.ts';
import { ordersMigrations } from './db/migrations.ts';
import { RedisOrderStatusFeed } from './status-feed.ts';

export async function startOrdersServer(config: OrdersConfig) {
  const log = pino({ level: config.LOG_LEVEL, base: { service: 'orders' }, redact: ['req.headers.authorization'] });
  const onPoolError = (error: Error) => log.warn({ err: error }, 'idle database connection failed');
  log.info({ tls: describeDatabaseTls(config.DATABASE_URL, config.DATABASE_CA) }, 'database TLS');
  const primaryPool = createPool(config.DATABASE_URL, { name: 'orders', ca: config.DATABASE_CA, onError: onPoolError });
  const replicaPool = config.DATABASE_READ_URL
    ? createPool(config.DATABASE_READ_URL, { name: 'orders-replica', ca: config.DATABASE_CA, onError: onPoolError })
    : undefined;
  await migrateWithUrl(config.DATABASE_URL, ordersMigrations, { ca: config.DATABASE_CA });

  const redis = config.REDIS_URL ? await connectRedis(config.REDIS_URL, { name: 'orders' }) : undefined;
  // Publishes on `redis`; subscribes on a connection of its own, opened with the first live stream.
  const feed = redis ? new RedisOrderStatusFeed({ redis, namespace: config.CACHE_NAMESPACE, log }) : undefined;
  const db = new ReplicaRouter({
    primary: drizzle(primaryPool),
    ...(replicaPool ? { replica: drizzle(replicaPool) } : {}),
    maxLagMs: config.REPLICA_MAX_LAG_MS,
    log,
  });
  await db.start();

  const app = await buildOrdersApp(
    {
      db,
      verifier: createJwksVerifier({ jwksUrl: config.AUTH_JWKS_URL, issuer: config.AUTH_ISSUER, audience: config.AUTH_AUDIENCE }),
      ...(redis ? { redis } : {}),
      ...(feed ? { feed } : {}),
      logger: log,
    },
    {
      namespace: config.CACHE_NAMESPACE,
      freshWindowMs: config.FRESH_READ_WINDOW_MS,
      rateLimit: { max: config.RATE_LIMIT_MAX, windowMs: config.RATE_LIMIT_WINDOW_MS },
      trustedProxyHops: config.TRUSTED_PROXY_HOPS,
      defaultMetrics: true,
      statusStream: { heartbeatMs: config.STATUS_STREAM_HEARTBEAT_MS, pollMs: config.STATUS_STREAM_POLL_MS },
    },
  );
  const close = async () => {
    db.stop();
    await feed?.close();
    await Promise.allSettled([primaryPool.end(), replicaPool?.end(), redis?.quit()]);
  };
  return { app, close };
}

async function main() {
  const config = loadConfigOrExit('orders', () => loadOrdersConfig());
  // before the app is built: createHttpApp adds the request spans only when tracing is on
  const tracing = await startTracing({ serviceName: 'orders', ...tracingEndpoints(config) });
  const { app, close } = await startOrdersServer(config);
  const cleanup = async () => {
    await close();
    await tracing.shutdown();
  };
  await serve(app, { port: config.PORT, host: config.HOST, cleanup });
}

if (import.meta.main) await main();

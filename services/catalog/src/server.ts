/**
 * The catalog as a deployable process: reads and validates the environment, connects to Postgres (primary and
 * replica), Redis and the identity provider's JWKS, migrates its schema, relays its outbox to `catalog-events`,
 * serves, and shuts down cleanly.
 */
import { drizzle } from 'drizzle-orm/node-postgres';
import { pino, type Logger } from 'pino';
import { Cache, connectRedis, MemoryStore, RedisStore, type SharedStore } from '@securecart/cache';
import { loadConfigOrExit, outboxSettings, tracingEndpoints } from '@securecart/config';
import { startTracing } from '@securecart/telemetry';
import { createClient, createPool, describeDatabaseTls, migrateWithUrl, ReplicaRouter } from '@securecart/db';
import { createJwksVerifier, serve } from '@securecart/http-kit';
import {
  bootstrapTopology, createAwsClients, destroyAwsClients, OutboxRelay, registerOutboxMetrics, SnsPublisher, topicArnFrom,
} from '@securecart/messaging';
import { buildCatalogApp } from './app.ts';
import { loadCatalogConfig, type CatalogConfig } from './config.ts';
import { catalogMigrations } from './db/migrations.ts';
import { CATALOG_SCHEMA } from './db/schema.ts';

/** The relay of catalog-events, or undefined (with a warning) when no topic is configured outside production. */
async function startCatalogRelay(config: CatalogConfig, log: Logger) {
  if (!config.AWS_ENDPOINT_URL && !config.COPILOT_SNS_TOPIC_ARNS) {
    log.warn('no SNS topic configured (AWS_ENDPOINT_URL or COPILOT_SNS_TOPIC_ARNS): catalog-events wait in the outbox');
    return undefined;
  }
  const clients = createAwsClients({ region: config.AWS_REGION, endpoint: config.AWS_ENDPOINT_URL });
  const local = config.AWS_ENDPOINT_URL ? await bootstrapTopology(clients, { prefix: config.MESSAGING_PREFIX }) : undefined;
  const topicArn = topicArnFrom(config, local, 'catalog-events');
  const pool = createPool(config.DATABASE_URL, {
    name: 'catalog-outbox',
    max: 2,
    ca: config.DATABASE_CA,
    onError: (error) => log.warn({ err: error }, 'idle database connection failed'),
  });
  const relay = new OutboxRelay({
    db: drizzle(pool),
    schema: CATALOG_SCHEMA,
    publisher: new SnsPublisher(clients),
    topicArns: { 'catalog-events': topicArn },
    owner: 'catalog',
    ...outboxSettings(config),
    listen: () => createClient(config.DATABASE_URL, { name: 'catalog-outbox-listen', ca: config.DATABASE_CA }),
    log,
  });
  await relay.start();
  return {
    relay,
    stop: async () => {
      await relay.stop();
      await pool.end().catch(() => undefined);
      destroyAwsClients(clients);
    },
  };
}

export async function startCatalogServer(config: CatalogConfig) {
  const log = pino({ level: config.LOG_LEVEL, base: { service: 'catalog' }, redact: ['req.headers.authorization'] });
  const onPoolError = (error: Error) => log.warn({ err: error }, 'idle database connection failed');
  log.info({ tls: describeDatabaseTls(config.DATABASE_URL, config.DATABASE_CA) }, 'database TLS');
  const primaryPool = createPool(config.DATABASE_URL, { name: 'catalog', ca: config.DATABASE_CA, onError: onPoolError });
  const replicaPool = config.DATABASE_READ_URL
    ? createPool(config.DATABASE_READ_URL, { name: 'catalog-replica', ca: config.DATABASE_CA, onError: onPoolError })
    : undefined;
  await migrateWithUrl(config.DATABASE_URL, catalogMigrations, { ca: config.DATABASE_CA });

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
  const relay = await startCatalogRelay(config, log);

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
      trustedProxyHops: config.TRUSTED_PROXY_HOPS,
      defaultMetrics: true,
    },
  );
  if (relay) registerOutboxMetrics(app.metrics, relay.relay);
  const close = async () => {
    await relay?.stop();
    db.stop();
    await cache.stop();
    await Promise.allSettled([primaryPool.end(), replicaPool?.end(), redis?.quit(), subscriber?.quit()]);
  };
  return { app, close };
}

async function main() {
  const config = loadConfigOrExit('catalog', () => loadCatalogConfig());
  // before the app is built: createHttpApp adds the request spans only when tracing is on
  const tracing = await startTracing({ serviceName: 'catalog', ...tracingEndpoints(config) });
  const { app, close } = await startCatalogServer(config);
  const cleanup = async () => {
    await close();
    await tracing.shutdown();
  };
  await serve(app, { port: config.PORT, host: config.HOST, cleanup });
}

if (import.meta.main) await main();

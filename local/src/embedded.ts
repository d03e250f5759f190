/**
 * Embedded mode, `pnpm start`: one process runs the edge router on :8080 and every service behind it, each on
 * its own port as in production, with embedded defaults for whatever is not configured (infrastructure.ts):
 * PGlite, in-process cache and Redis stand-ins, fauxqs, the development identity provider (refused under
 * NODE_ENV=production) and a seeded demo catalog.
 */
import { pino } from 'pino';
import { Cache } from '@securecart/cache';
import { buildCatalogApp, catalogMigrations, seedDemoCatalog } from '@securecart/catalog';
import { buildCheckoutApp } from '@securecart/checkout';
import { loadConfigOrExit } from '@securecart/config';
import { ReplicaRouter } from '@securecart/db';
import { createDevIdentityProvider, devIdentityRoutes } from '@securecart/dev-idp';
import { buildEdge } from '@securecart/edge';
import { createJwksVerifier } from '@securecart/http-kit';
import { OutboxRelay, QueueConsumer, SnsPublisher } from '@securecart/messaging';
import { buildOrdersApp, orderSubmittedHandler, ORDERS_SCHEMA, ordersMigrations } from '@securecart/orders';
import { loadEmbeddedConfig, type EmbeddedConfig } from './config.ts';
import { openDatabase, openMessaging, openRedis } from './infrastructure.ts';

export async function startEmbedded(config: EmbeddedConfig) {
  const log = pino({ level: config.LOG_LEVEL, base: { mode: 'embedded' } });
  const publicUrl = `http://localhost:${config.PORT}`;
  const idp = await createDevIdentityProvider({ issuer: publicUrl, audience: 'securecart', nodeEnv: config.NODE_ENV });
  // Verified exactly as in AWS: RS256 against the JWKS the edge serves, issuer and audience checked.
  const verifier = createJwksVerifier({ jwksUrl: `http://127.0.0.1:${config.PORT}/.well-known/jwks.json`, issuer: idp.issuer, audience: idp.audience });
  const stops: (() => Promise<unknown> | void)[] = [];

  const database = await openDatabase(config, [catalogMigrations, ordersMigrations], log);
  stops.push(() => database.close());
  const seeded = await seedDemoCatalog(database.primary);
  const redis = openRedis(config);
  stops.push(() => redis.close());
  const messaging = await openMessaging(config);
  stops.push(() => messaging.close());

  // catalog
  const router = new ReplicaRouter({ primary: database.primary, ...(database.replica ? { replica: database.replica } : {}), log });
  const cache = new Cache({ store: await redis.cacheStore(), namespace: config.CACHE_NAMESPACE, log });
  await Promise.all([router.start(), cache.start()]);
  stops.push(() => router.stop(), () => cache.stop());
  const catalogRedis = config.REDIS_URL ? await redis.client('catalog-rate-limit') : undefined;
  const catalog = await buildCatalogApp(
    { db: router, cache, verifier, ...(catalogRedis ? { redis: catalogRedis } : {}), logger: log.child({ service: 'catalog' }) },
    { namespace: config.CACHE_NAMESPACE, defaultMetrics: true },
  );
  const catalogUrl = await catalog.listen({ port: config.CATALOG_PORT, host: '127.0.0.1' });

  // checkout
  const checkout = await buildCheckoutApp(
    {
      redis: await redis.client('checkout'),
      publisher: new SnsPublisher(messaging.clients),
      topicArn: messaging.addresses.topicArns['checkout-events'],
      catalogUrl,
      verifier,
      logger: log.child({ service: 'checkout' }),
    },
    { namespace: config.CACHE_NAMESPACE },
  );
  const checkoutUrl = await checkout.listen({ port: config.CHECKOUT_PORT, host: '127.0.0.1' });

  // orders (HTTP) and orders-worker (intake consumer + outbox relay)
  const orders = await buildOrdersApp(
    { db: router, verifier, ...(config.REDIS_URL ? { redis: await redis.client('orders') } : {}), logger: log.child({ service: 'orders' }) },
    { namespace: config.CACHE_NAMESPACE },
  );
  const ordersUrl = await orders.listen({ port: config.ORDERS_PORT, host: '127.0.0.1' });
  const workerLog = log.child({ service: 'orders-worker' });
  const relay = new OutboxRelay({
    db: database.primary,
    schema: ORDERS_SCHEMA,
    publisher: new SnsPublisher(messaging.clients),
    topicArns: messaging.addresses.topicArns,
    intervalMs: 200,
    log: workerLog,
  });
  const intake = new QueueConsumer({
    sqs: messaging.clients.sqs,
    queueUrl: messaging.addresses.queueUrls['orders-intake'],
    handlers: { 'order.submitted': orderSubmittedHandler({ db: database.primary, log: workerLog }) },
    log: workerLog,
  });
  await relay.start();
  intake.start();
  // stopped before the database closes (stops run in reverse)
  stops.push(() => relay.stop(), () => intake.stop());
  const apps = [catalog, checkout, orders];

  const edge = await buildEdge({
    upstreams: { catalog: catalogUrl, checkout: checkoutUrl, orders: ordersUrl },
    extraRoutes: async (app) => {
      await app.register(devIdentityRoutes, { idp });
    },
  });
  await edge.listen({ port: config.PORT, host: config.HOST });

  const stop = async () => {
    for (const app of apps) app.draining = true;
    await edge.close();
    await Promise.all(apps.map((app) => app.close()));
    for (const close of stops.reverse()) await close();
  };
  return {
    publicUrl,
    serviceUrls: { catalog: catalogUrl, checkout: checkoutUrl, orders: ordersUrl },
    seeded,
    database: database.description,
    cache: redis.description,
    messaging: messaging.description,
    stop,
  };
}

async function main() {
  const config = loadConfigOrExit('securecart', () => loadEmbeddedConfig());
  let running: Awaited<ReturnType<typeof startEmbedded>>;
  try {
    running = await startEmbedded(config);
  } catch (error) {
    process.stderr.write(`securecart: could not start: ${(error as Error).message}\n`);
    process.exit(1);
  }
  const docs = Object.entries(running.serviceUrls).map(([name, url]) => `  ${`${name} docs`.padEnd(15)}${url.replace('127.0.0.1', 'localhost')}/docs`);
  const lines = [
    '',
    `SecureCart is running (embedded mode)`,
    `  API (edge)     ${running.publicUrl}/api/catalog/products`,
    `  dev token      curl -s -X POST ${running.publicUrl}/api/dev/token -H 'content-type: application/json' -d '{"sub":"alice","groups":["admin"]}'`,
    ...docs,
    `  database       ${running.database}`,
    `  cache          ${running.cache}`,
    `  messaging      ${running.messaging}`,
    ...(running.seeded > 0 ? [`  demo data      seeded ${running.seeded} products`] : []),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const onSignal = () => {
    if (stopping) process.exit(1);
    stopping = true;
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

if (import.meta.main) await main();

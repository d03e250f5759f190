/**
 * Embedded mode, `pnpm start`: one process runs the edge router on :8080 and every service behind it, each on
 * its own port as in production, with embedded defaults for whatever is not configured (infrastructure.ts):
 * PGlite, in-process cache and Redis stand-ins, fauxqs, the development identity provider (refused under
 * NODE_ENV=production) and a seeded demo catalog.
 */
import path from 'node:path';
import { pino } from 'pino';
import { Cache } from '@securecart/cache';
import { buildCatalogApp, CATALOG_SCHEMA, catalogMigrations, seedDemoCatalog } from '@securecart/catalog';
import { buildCheckoutApp } from '@securecart/checkout';
import { loadConfigOrExit } from '@securecart/config';
import { ReplicaRouter } from '@securecart/db';
import { createDevIdentityProvider, devIdentityRoutes, type DevIdentityProvider } from '@securecart/dev-idp';
import { buildEdge } from '@securecart/edge';
import { createJwksVerifier } from '@securecart/http-kit';
import { fulfillmentHandlers, fulfillmentMigrations, FULFILLMENT_SCHEMA, retryDelay, sagaDepsFrom, StuckSagaResumer } from '@securecart/fulfillment';
import { OutboxRelay, QueueConsumer, SnsPublisher, type QueueName } from '@securecart/messaging';
import { createLocalSink, notificationHandlers, notificationsMigrations } from '@securecart/notifications';
import {
  buildOrdersApp, fulfillmentUpdateHandlers, InProcessOrderStatusFeed, orderSubmittedBatchHandler, orderSubmittedHandler, ORDERS_SCHEMA, ordersMigrations,
} from '@securecart/orders';
import { loadEmbeddedConfig, type EmbeddedConfig } from './config.ts';
import { openDatabase, openMessaging, openRedis } from './infrastructure.ts';

export interface EmbeddedDeps {
  /** the identity provider the edge serves and every service trusts; made here when not given (a test passes its own to sign any token) */
  idp?: DevIdentityProvider;
}

export async function startEmbedded(config: EmbeddedConfig, deps: EmbeddedDeps = {}) {
  const log = pino({ level: config.LOG_LEVEL, base: { mode: 'embedded' } });
  const publicUrl = `http://localhost:${config.PORT}`;
  const idp = deps.idp ?? (await createDevIdentityProvider({ issuer: publicUrl, audience: 'securecart', nodeEnv: config.NODE_ENV }));
  // Verified exactly as in AWS: RS256 against the JWKS the edge serves, issuer and audience checked.
  const verifier = createJwksVerifier({ jwksUrl: `http://127.0.0.1:${config.PORT}/.well-known/jwks.json`, issuer: idp.issuer, audience: idp.audience });
  const stops: (() => Promise<unknown> | void)[] = [];

  const database = await openDatabase(config, [catalogMigrations, ordersMigrations, fulfillmentMigrations, notificationsMigrations], log);
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
  // One process: the live status stream hears the workers' changes in process (several orders tasks use Redis).
  const feed = new InProcessOrderStatusFeed();
  const orders = await buildOrdersApp(
    { db: router, verifier, feed, ...(config.REDIS_URL ? { redis: await redis.client('orders') } : {}), logger: log.child({ service: 'orders' }) },
    { namespace: config.CACHE_NAMESPACE },
  );
  const ordersUrl = await orders.listen({ port: config.ORDERS_PORT, host: '127.0.0.1' });
  // The workers, in this process: every schema's outbox relayed to its topic, every queue consumed by the
  // handlers its worker uses in production.
  const workerLog = log.child({ service: 'orders-worker' });
  const fulfillmentLog = log.child({ service: 'fulfillment' });
  const notificationsLog = log.child({ service: 'notifications' });
  // Emails and SMS are files here: one JSON file per delivery (docs/configuration.md, LOCAL_SINK_DIR).
  const sink = createLocalSink(config.LOCAL_SINK_DIR ?? path.join(config.DATA_DIR, 'notifications'));
  await sink.check();
  const sagaDeps = sagaDepsFrom(
    {
      CATALOG_INTERNAL_URL: catalogUrl,
      CATALOG_TIMEOUT_MS: 2_000,
      CACHE_NAMESPACE: config.CACHE_NAMESPACE,
      VISIBILITY_TIMEOUT_SECONDS: 30,
      FRAUD_MAX_ORDER_CENTS: config.FRAUD_MAX_ORDER_CENTS,
      FRAUD_VELOCITY_MAX: config.FRAUD_VELOCITY_MAX,
      FRAUD_VELOCITY_WINDOW_SECONDS: config.FRAUD_VELOCITY_WINDOW_SECONDS,
    },
    database.primary,
    await redis.client('fulfillment'),
    fulfillmentLog,
  );
  const relays = [
    { schema: ORDERS_SCHEMA, owner: 'orders-worker', log: workerLog, processedEvents: true },
    { schema: CATALOG_SCHEMA, owner: 'catalog', log: log.child({ service: 'catalog' }), processedEvents: false },
    { schema: FULFILLMENT_SCHEMA, owner: 'fulfillment', log: fulfillmentLog, processedEvents: true },
  ].map(
    ({ schema, owner, log: relayLog, processedEvents }) =>
      new OutboxRelay({
        db: database.primary,
        schema,
        owner,
        processedEvents,
        publisher: new SnsPublisher(messaging.clients),
        topicArns: messaging.addresses.topicArns,
        intervalMs: 200,
        log: relayLog,
      }),
  );
  type ConsumerOptions = ConstructorParameters<typeof QueueConsumer>[0];
  const consume = (queue: QueueName, handlers: ConsumerOptions['handlers'], consumerLog: typeof log, batchHandlers: ConsumerOptions['batchHandlers'] = {}) =>
    new QueueConsumer({
      sqs: messaging.clients.sqs,
      queueUrl: messaging.addresses.queueUrls[queue],
      queueName: queue,
      handlers,
      batchHandlers,
      retryDelaySeconds: retryDelay(1),
      log: consumerLog,
    });
  const intakeDeps = { db: database.primary, feed, log: workerLog };
  const consumers = [
    consume('orders-intake', { 'order.submitted': orderSubmittedHandler(intakeDeps) }, workerLog, { 'order.submitted': orderSubmittedBatchHandler(intakeDeps) }),
    consume('orders-fulfillment-updates', fulfillmentUpdateHandlers({ db: database.primary, feed, log: workerLog }), workerLog),
    consume('fulfillment', fulfillmentHandlers(sagaDeps), fulfillmentLog),
    consume('notifications', notificationHandlers({ db: database.primary, senders: sink, log: notificationsLog }), notificationsLog),
  ];
  for (const relay of relays) await relay.start();
  // as the fulfillment worker does: sagas whose messages are gone are resumed (FulfillmentEnv's defaults)
  const resumer = new StuckSagaResumer(sagaDeps, { stuckAfterSeconds: 600, checkSeconds: 30, log: fulfillmentLog });
  resumer.start();
  for (const consumer of consumers) consumer.start();
  // stopped before the database closes (stops run in reverse): consumers first, then the relays
  stops.push(...relays.map((relay) => () => relay.stop()), ...consumers.map((consumer) => () => consumer.stop()), () => resumer.stop());
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
    // Together: the edge waits for proxied live streams, which end when the orders app closes them.
    await Promise.all([edge.close(), ...apps.map((app) => app.close())]);
    for (const close of stops.reverse()) await close();
  };
  return {
    publicUrl,
    serviceUrls: { catalog: catalogUrl, checkout: checkoutUrl, orders: ordersUrl },
    seeded,
    database: database.description,
    cache: redis.description,
    messaging: messaging.description,
    notifications: sink.dir,
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
    `  notifications  ${running.notifications} (one JSON file per email or SMS)`,
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

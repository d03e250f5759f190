/**
 * The orders-worker process: consumes `orders-intake` (order.submitted → a PLACED order) and
 * `orders-fulfillment-updates` (fulfillment's facts → order transitions), relays the orders schema's outbox to the
 * `order-events` topic, and announces every status change it commits on Redis pub/sub for the live status streams
 * (when REDIS_URL is set). In AWS the queues and topic come from Copilot's variables; with AWS_ENDPOINT_URL (an
 * emulator) the topology is bootstrapped and found by name.
 * SIGTERM stops taking messages, finishes those in flight, publishes the batch in hand, closes pools, exits 0.
 */
import { drizzle } from 'drizzle-orm/node-postgres';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { loadConfigOrExit, outboxSettings, tracingEndpoints } from '@securecart/config';
import { startTracing } from '@securecart/telemetry';
import { buildWorkerProbe, runWorkerMain, workerRegistry } from '@securecart/http-kit';
import { createClient, createPool, describeDatabaseTls, migrateWithUrl } from '@securecart/db';
import {
  bootstrapTopology, createAwsClients, destroyAwsClients, OutboxRelay, QueueConsumer, registerOutboxMetrics, queueUrlFrom,
  SnsPublisher, topicArnFrom,
} from '@securecart/messaging';
import { loadOrdersWorkerConfig, type OrdersWorkerConfig } from './config.ts';
import { ordersMigrations } from './db/migrations.ts';
import { ORDERS_SCHEMA } from './db/schema.ts';
import { fulfillmentUpdateHandlers } from './handlers/fulfillment-updates.ts';
import { orderSubmittedBatchHandler, orderSubmittedHandler } from './handlers/order-submitted.handler.ts';
import { RedisOrderStatusFeed, type OrderStatusFeed } from './status-feed.ts';

export interface OrdersWorker {
  /** orders-intake */
  consumer: QueueConsumer;
  /** orders-fulfillment-updates */
  fulfillmentUpdates: QueueConsumer;
  relay: OutboxRelay;
  /** stops the consumers (draining messages in flight), then the relay, then closes every connection */
  stop(): Promise<void>;
}

export interface OrdersWorkerOptions {
  log?: Logger;
  /** seconds before a failed message comes back (tests shorten the exponential default) */
  retryDelaySeconds?: (receiveCount: number) => number;
}

export async function startOrdersWorker(config: OrdersWorkerConfig, options: OrdersWorkerOptions = {}): Promise<OrdersWorker> {
  const log = options.log ?? pino({ level: config.LOG_LEVEL, base: { service: 'orders-worker' } });
  const onDbError = (error: Error) => log.warn({ err: error }, 'database connection failed');
  log.info({ tls: describeDatabaseTls(config.DATABASE_URL, config.DATABASE_CA) }, 'database TLS');
  await migrateWithUrl(config.DATABASE_URL, ordersMigrations, { ca: config.DATABASE_CA });
  const pool = createPool(config.DATABASE_URL, { name: 'orders-worker', ca: config.DATABASE_CA, onError: onDbError });

  const clients = createAwsClients({ region: config.AWS_REGION, endpoint: config.AWS_ENDPOINT_URL });
  const local = config.AWS_ENDPOINT_URL ? await bootstrapTopology(clients, { prefix: config.MESSAGING_PREFIX }) : undefined;
  const topicArn = topicArnFrom(config, local, 'order-events');
  const copilot = { COPILOT_QUEUE_URI: config.COPILOT_QUEUE_URI, COPILOT_TOPIC_QUEUE_URIS: config.COPILOT_TOPIC_QUEUE_URIS };
  const queueUrl = queueUrlFrom(copilot, local, 'orders-intake');
  // A second queue never falls back to COPILOT_QUEUE_URI, the worker's shared (intake) queue.
  const updatesQueueUrl = queueUrlFrom(copilot, local, 'orders-fulfillment-updates', { shared: false });
  const { redis, feed } = await openStatusFeed(config, log);

  const db = drizzle(pool);
  const relay = new OutboxRelay({
    db,
    schema: ORDERS_SCHEMA,
    publisher: new SnsPublisher(clients),
    // The orders outbox only ever holds order-events rows (enqueueEvent picks the topic by event type).
    topicArns: { 'order-events': topicArn },
    owner: 'orders-worker',
    ...outboxSettings(config),
    processedEvents: true,
    listen: () => createClient(config.DATABASE_URL, { name: 'orders-worker-listen', ca: config.DATABASE_CA }),
    log,
  });
  const registry = workerRegistry('orders-worker');
  const retry = options.retryDelaySeconds ? { retryDelaySeconds: options.retryDelaySeconds } : {};
  const consumer = new QueueConsumer({
    sqs: clients.sqs,
    queueUrl,
    queueName: 'orders-intake',
    pollers: config.INTAKE_POLLERS,
    visibilityTimeoutSeconds: config.VISIBILITY_TIMEOUT_SECONDS,
    handlers: { 'order.submitted': orderSubmittedHandler({ db, feed, log }) },
    batchHandlers: { 'order.submitted': orderSubmittedBatchHandler({ db, feed, log }) },
    metrics: registry,
    log,
    ...retry,
  });
  const fulfillmentUpdates = new QueueConsumer({
    sqs: clients.sqs,
    queueUrl: updatesQueueUrl,
    queueName: 'orders-fulfillment-updates',
    pollers: config.FULFILLMENT_POLLERS,
    visibilityTimeoutSeconds: config.VISIBILITY_TIMEOUT_SECONDS,
    handlers: fulfillmentUpdateHandlers({ db, feed, log }),
    metrics: registry,
    log,
    ...retry,
  });
  registerOutboxMetrics(registry, relay);
  const probe = await buildWorkerProbe({
    registry,
    checks: {
      database: async () => {
        await pool.query('select 1');
      },
      consumer: async () => {
        if (!consumer.running) throw new Error('not consuming orders-intake');
        if (!fulfillmentUpdates.running) throw new Error('not consuming orders-fulfillment-updates');
      },
    },
  });
  await probe.listen({ port: config.PROBE_PORT, host: '0.0.0.0' });
  await relay.start();
  consumer.start();
  fulfillmentUpdates.start();
  log.info({ queueUrl, updatesQueueUrl, topicArn, statusFeed: Boolean(feed), probePort: config.PROBE_PORT }, 'orders-worker started');

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      probe.draining = true;
      await Promise.all([consumer.stop(), fulfillmentUpdates.stop()]);
      await relay.stop();
      await Promise.allSettled([pool.end(), feed?.close()]);
      redis?.disconnect(); // nothing is published any more; also stops reconnecting if Redis is away
      destroyAwsClients(clients);
      await probe.close();
    })();
    return stopping;
  };
  return { consumer, fulfillmentUpdates, relay, stop };
}

/**
 * The status feed the worker publishes on. Redis being away does not stop the worker (intake and fulfillment
 * updates do not need it): the connection keeps retrying in the background, publishes fail fast and are logged
 * meanwhile, and live streams see the changes by polling.
 */
async function openStatusFeed(config: OrdersWorkerConfig, log: Logger): Promise<{ redis?: Redis; feed?: OrderStatusFeed }> {
  if (!config.REDIS_URL) return {};
  // connectRedis's tuning (fail fast, never queue), without its refusal to start while Redis is down.
  const redis = new Redis(config.REDIS_URL, {
    connectionName: 'orders-worker',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 500,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  redis.on('error', () => undefined); // every failed reconnect is an 'error'; publishes report their own failure
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 2_000);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  if (!ready) log.warn('Redis unreachable at start: status changes are not announced until it answers (live streams poll)');
  return { redis, feed: new RedisOrderStatusFeed({ redis, namespace: config.CACHE_NAMESPACE, log }) };
}

async function main() {
  const config = loadConfigOrExit('orders-worker', () => loadOrdersWorkerConfig());
  const log = pino({ level: config.LOG_LEVEL, base: { service: 'orders-worker' } });
  const tracing = await startTracing({ serviceName: 'orders-worker', ...tracingEndpoints(config) });
  await runWorkerMain({ log, start: () => startOrdersWorker(config, { log }), cleanup: tracing.shutdown });
}

if (import.meta.main) await main();

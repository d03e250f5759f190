/**
 * The fulfillment worker process (the Step Functions role): consumes the `fulfillment` queue (order.placed starts
 * or resumes a saga, order.cancelled compensates) and relays the fulfillment schema's outbox to the
 * `fulfillment-events` topic. In AWS the queue and topic come from Copilot's variables; with AWS_ENDPOINT_URL (an
 * emulator) the topology is bootstrapped and found by name.
 * SIGTERM stops taking messages, finishes those in flight, publishes the batch in hand, closes pools, exits 0.
 */
import type { AddressInfo } from 'node:net';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pino, type Logger } from 'pino';
import { Gauge } from 'prom-client';
import { connectRedis } from '@securecart/cache';
import { loadConfigOrExit, outboxSettings, tracingEndpoints } from '@securecart/config';
import { startTracing } from '@securecart/telemetry';
import { buildWorkerProbe, runWorkerMain, workerRegistry } from '@securecart/http-kit';
import { createClient, createPool, describeDatabaseTls, migrateWithUrl, type Db } from '@securecart/db';
import {
  bootstrapTopology, createAwsClients, destroyAwsClients, OutboxRelay, QueueConsumer, registerOutboxMetrics, queueUrlFrom, SnsPublisher,
  topicArnFrom,
} from '@securecart/messaging';
import type { Redis } from 'ioredis';
import { CatalogStockReservations } from './adapters/catalog-stock.ts';
import { RedisVelocityCounter } from './adapters/redis-velocity.ts';
import { SimulatedCarrier } from './adapters/simulated-carrier.ts';
import { SimulatedPaymentGateway } from './adapters/simulated-payment-gateway.ts';
import { loadFulfillmentConfig, retryDelay, type FulfillmentConfig } from './config.ts';
import { fulfillmentMigrations } from './db/migrations.ts';
import { FULFILLMENT_SCHEMA } from './db/schema.ts';
import { fulfillmentHandlers } from './handlers/index.ts';
import { newSagaStats, type SagaDeps } from './saga/run-saga.ts';
import { StuckSagaResumer } from './saga/stuck-sagas.ts';

/** The saga's dependencies from configuration: the simulated providers, the catalog over HTTP, Redis counters. */
export function sagaDepsFrom(config: Pick<FulfillmentConfig, 'CATALOG_INTERNAL_URL' | 'CATALOG_TIMEOUT_MS' | 'CACHE_NAMESPACE' | 'VISIBILITY_TIMEOUT_SECONDS' | 'FRAUD_MAX_ORDER_CENTS' | 'FRAUD_VELOCITY_MAX' | 'FRAUD_VELOCITY_WINDOW_SECONDS'>, db: Db, redis: Redis, log?: Logger): SagaDeps {
  return {
    db,
    payments: new SimulatedPaymentGateway(db),
    shipping: new SimulatedCarrier(db),
    stock: new CatalogStockReservations({ baseUrl: config.CATALOG_INTERNAL_URL, timeoutMs: config.CATALOG_TIMEOUT_MS }),
    velocity: new RedisVelocityCounter(redis, config.CACHE_NAMESPACE),
    rules: {
      maxOrderCents: config.FRAUD_MAX_ORDER_CENTS,
      velocityMax: config.FRAUD_VELOCITY_MAX,
      velocityWindowSeconds: config.FRAUD_VELOCITY_WINDOW_SECONDS,
    },
    leaseMs: config.VISIBILITY_TIMEOUT_SECONDS * 1000,
    stats: newSagaStats(),
    ...(log ? { log } : {}),
  };
}

export interface FulfillmentWorker {
  consumer: QueueConsumer;
  relay: OutboxRelay;
  resumer: StuckSagaResumer;
  deps: SagaDeps;
  /** where its /health/* and /metrics answer */
  probeUrl: string;
  /** stops the consumer (draining messages in flight), then the relay, then closes every connection */
  stop(): Promise<void>;
}

export async function startFulfillmentWorker(config: FulfillmentConfig, options: { log?: Logger } = {}): Promise<FulfillmentWorker> {
  const log = options.log ?? pino({ level: config.LOG_LEVEL, base: { service: 'fulfillment' } });
  const onDbError = (error: Error) => log.warn({ err: error }, 'database connection failed');
  log.info({ tls: describeDatabaseTls(config.DATABASE_URL, config.DATABASE_CA) }, 'database TLS');
  await migrateWithUrl(config.DATABASE_URL, fulfillmentMigrations, { ca: config.DATABASE_CA });
  const pool = createPool(config.DATABASE_URL, { name: 'fulfillment', max: 20, ca: config.DATABASE_CA, onError: onDbError });
  const redis = await connectRedis(config.REDIS_URL, { name: 'fulfillment' });

  const clients = createAwsClients({ region: config.AWS_REGION, endpoint: config.AWS_ENDPOINT_URL });
  const local = config.AWS_ENDPOINT_URL ? await bootstrapTopology(clients, { prefix: config.MESSAGING_PREFIX }) : undefined;
  const topicArn = topicArnFrom(config, local, 'fulfillment-events');
  const queueUrl = queueUrlFrom({ COPILOT_QUEUE_URI: config.COPILOT_QUEUE_URI }, local, 'fulfillment');

  const db = drizzle(pool);
  const deps = sagaDepsFrom(config, db, redis, log);
  const relay = new OutboxRelay({
    db,
    schema: FULFILLMENT_SCHEMA,
    publisher: new SnsPublisher(clients),
    topicArns: { 'fulfillment-events': topicArn },
    owner: 'fulfillment',
    ...outboxSettings(config),
    processedEvents: true,
    listen: () => createClient(config.DATABASE_URL, { name: 'fulfillment-listen', ca: config.DATABASE_CA }),
    log,
  });
  const registry = workerRegistry('fulfillment');
  const consumer = new QueueConsumer({
    sqs: clients.sqs,
    queueUrl,
    queueName: 'fulfillment',
    pollers: config.POLLERS,
    visibilityTimeoutSeconds: config.VISIBILITY_TIMEOUT_SECONDS,
    retryDelaySeconds: retryDelay(config.RETRY_BASE_SECONDS),
    handlers: fulfillmentHandlers(deps),
    metrics: registry,
    log,
  });
  new Gauge({
    name: 'fulfillment_sagas',
    help: 'Sagas ended by this task, by outcome, and transient step failures',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      const stats = deps.stats!;
      this.set({ outcome: 'completed' }, stats.completed);
      this.set({ outcome: 'failed' }, stats.failed);
      this.set({ outcome: 'cancelled' }, stats.cancelled);
      this.set({ outcome: 'transient_failure' }, stats.transientFailures);
    },
  });
  const resumer = new StuckSagaResumer(deps, { stuckAfterSeconds: config.STUCK_SAGA_AFTER_SECONDS, checkSeconds: config.STUCK_SAGA_CHECK_SECONDS, log });
  new Gauge({
    name: 'fulfillment_stuck_sagas',
    help: 'Sagas found stuck (no progress, no lease, no message) by this task: resumed to their end, or failed again',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.set({ outcome: 'resumed' }, resumer.stats.resumed);
      this.set({ outcome: 'failed' }, resumer.stats.failed);
    },
  });
  registerOutboxMetrics(registry, relay);
  const probe = await buildWorkerProbe({
    registry,
    checks: {
      database: async () => {
        await pool.query('select 1');
      },
      redis: async () => {
        await redis.ping();
      },
      consumer: async () => {
        if (!consumer.running) throw new Error('not consuming');
      },
    },
  });
  await probe.listen({ port: config.PROBE_PORT, host: '0.0.0.0' });
  const probeUrl = `http://127.0.0.1:${(probe.server.address() as AddressInfo).port}`;
  await relay.start();
  consumer.start();
  resumer.start();
  log.info({ queueUrl, topicArn, probePort: config.PROBE_PORT }, 'fulfillment worker started');

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      probe.draining = true;
      await resumer.stop();
      await consumer.stop();
      await relay.stop();
      await Promise.allSettled([pool.end(), redis.quit(), deps.stock.close?.()]);
      destroyAwsClients(clients);
      await probe.close();
    })();
    return stopping;
  };
  return { consumer, relay, resumer, deps, probeUrl, stop };
}

async function main() {
  const config = loadConfigOrExit('fulfillment', () => loadFulfillmentConfig());
  const log = pino({ level: config.LOG_LEVEL, base: { service: 'fulfillment' } });
  const tracing = await startTracing({ serviceName: 'fulfillment', ...tracingEndpoints(config) });
  await runWorkerMain({ log, start: () => startFulfillmentWorker(config, { log }), cleanup: tracing.shutdown });
}

if (import.meta.main) await main();

/**
 * Builds the orders service on the run's real infrastructure: the HTTP app on Postgres primary + replica, Redis
 * (with the status feed) and the dev identity provider over HTTP; the orders-worker on fauxqs (the SQS/SNS wire
 * protocol, embedded) with the topology bootstrapped under a prefix of its own; taps that collect what lands on a
 * queue; fulfillment facts as the fulfillment worker publishes them; and a Server-Sent Events client.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { drizzle } from 'drizzle-orm/node-postgres';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { pino } from 'pino';
import { connectRedis } from '@securecart/cache';
import type { EventPayload } from '@securecart/contracts';
import { createPool, migrateWithUrl, ReplicaRouter } from '@securecart/db';
import { createJwksVerifier, type App } from '@securecart/http-kit';
import {
  createEvent, QueueTap as MessagingQueueTap, type CloudEvent, type QueueName,
} from '@securecart/messaging';
import { startLocalMessaging, type LocalMessaging } from '@securecart/messaging/local';
import { waitFor, type Infra, type TestIdentityProvider } from '@securecart/testing';
import { buildOrdersApp, type OrdersOptions } from '../src/app.ts';
import { loadOrdersWorkerConfig } from '../src/config.ts';
import { ordersMigrations } from '../src/db/migrations.ts';
import { orderSubmittedBatchHandler, orderSubmittedHandler } from '../src/handlers/order-submitted.handler.ts';
import { RedisOrderStatusFeed } from '../src/status-feed.ts';
import { startOrdersWorker, type OrdersWorker } from '../src/worker.ts';

export async function migrateOrders(infra: Infra): Promise<void> {
  await migrateWithUrl(infra.databaseUrl, ordersMigrations);
}

export interface TestOrders {
  app: App;
  /** the status feed the app announces and listens on (undefined with `feed: false`) */
  feed: RedisOrderStatusFeed | undefined;
  router: ReplicaRouter;
  /** the primary, for setting up states the API cannot reach (CONFIRMED, REJECTED) and checking what was stored */
  sql: pg.Pool;
  /** places an order as intake would (the order.submitted handler on the primary), without a queue */
  place(event: CloudEvent<'order.submitted'>): Promise<void>;
  /** places the orders of several submissions as intake's batch handler does (one statement) */
  placeAll(events: CloudEvent<'order.submitted'>[]): Promise<void>;
  /** waits until the replica has replayed the order as it is now on the primary (its version), for list reads */
  untilReplicated(orderId: string): Promise<void>;
  /** serves the app on a free port (for streams, which app.inject cannot read as they come); returns its base URL */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export interface TestOrdersOptions extends OrdersOptions {
  maxLagMs?: number;
  /** Redis for this app (rate limits, marks, status feed): a proxy a test can cut; default the run's Redis */
  redisUrl?: string;
  /** false: no status feed, live streams only poll */
  feed?: boolean;
}

export async function buildTestOrders(infra: Infra, idp: TestIdentityProvider, options: TestOrdersOptions = {}): Promise<TestOrders> {
  const primaryPool = createPool(infra.databaseUrl, { name: 'orders-test' });
  const replicaPool = createPool(infra.databaseReadUrl, { name: 'orders-replica' });
  const redis: Redis = await connectRedis(options.redisUrl ?? infra.redisUrl, { name: 'orders-test' });
  const feed = options.feed === false ? undefined : new RedisOrderStatusFeed({ redis, namespace: infra.namespace });
  const router = new ReplicaRouter({
    primary: drizzle(primaryPool),
    replica: drizzle(replicaPool),
    maxLagMs: options.maxLagMs ?? 1_000,
    checkIntervalMs: 200,
  });
  await router.start();
  const app = await buildOrdersApp(
    { db: router, verifier: createJwksVerifier(idp), redis, ...(feed ? { feed } : {}), logger: false },
    { namespace: infra.namespace, ...options },
  );
  await app.ready();
  const handle = orderSubmittedHandler({ db: drizzle(primaryPool), feed });
  const handleAll = orderSubmittedBatchHandler({ db: drizzle(primaryPool), feed });
  return {
    app,
    feed,
    router,
    sql: primaryPool,
    place: async (event) => {
      await handle(event, { receiveCount: 1 });
    },
    placeAll: (events) => handleAll(events),
    untilReplicated: async (orderId) => {
      const versionOf = async (pool: pg.Pool) =>
        (await pool.query('select version from orders.orders where id = $1', [orderId]).catch(() => ({ rows: [] }))).rows[0]?.version as number | undefined;
      const version = await versionOf(primaryPool);
      await waitFor(async () => (await versionOf(replicaPool)) === version, { timeoutMs: 5_000, what: `order ${orderId} on the replica` });
    },
    listen: () => app.listen({ port: 0, host: '127.0.0.1' }),
    close: async () => {
      await app.close();
      router.stop();
      await feed?.close();
      redis.disconnect();
      await Promise.allSettled([primaryPool.end(), replicaPool.end()]);
    },
  };
}

let counter = 0;

/** An order.submitted envelope as checkout publishes it, for a fresh order of `customerId`. */
export function submittedEvent(customerId: string, overrides: Partial<EventPayload<'order.submitted'>> = {}): CloudEvent<'order.submitted'> {
  const orderId = overrides.orderId ?? randomUUID();
  const n = counter++;
  return createEvent({
    name: 'order.submitted',
    source: 'checkout',
    subject: orderId,
    correlationId: `corr-${orderId}`,
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    data: {
      orderId,
      customerId,
      lines: [
        { productId: randomUUID(), sku: `SKU-${n}-A`, name: 'Kettle', quantity: 2, unitPriceCents: 1500 },
        { productId: randomUUID(), sku: `SKU-${n}-B`, name: 'Mug', quantity: 1, unitPriceCents: 700 },
      ],
      totalCents: 3700,
      currency: 'USD',
      shippingAddress: { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' },
      contact: { email: 'ada@example.com' },
      paymentToken: 'tok_approve',
      submittedAt: new Date().toISOString(),
      ...overrides,
    },
  });
}

export type TestMessaging = LocalMessaging;

/**
 * fauxqs with SecureCart's topology bootstrapped under a prefix of its own: in this process, or the run's emulator
 * out of process (`endpoint`: infra.sqsEndpoint), for workers that run as processes of their own.
 */
export const startTestMessaging = (options: { endpoint?: string } = {}): Promise<TestMessaging> =>
  startLocalMessaging({ prefix: `o${randomUUID().slice(0, 8)}-`, ...options });

export type TestWorker = OrdersWorker & {
  /** every log line the worker wrote, parsed */
  logs: Record<string, unknown>[];
};

/**
 * The orders-worker as server code runs it (startOrdersWorker), pointed at the test database, fauxqs and the run's
 * Redis (status feed), with a failed message coming back after 1 s instead of 2^n s.
 */
export async function startTestWorker(infra: Infra, messaging: TestMessaging): Promise<TestWorker> {
  const config = loadOrdersWorkerConfig({
    DATABASE_URL: infra.databaseUrl,
    AWS_ENDPOINT_URL: messaging.endpoint,
    MESSAGING_PREFIX: messaging.prefix,
    REDIS_URL: infra.redisUrl,
    CACHE_NAMESPACE: infra.namespace,
    OUTBOX_POLL_MS: '100',
    PROBE_PORT: '0',
    LOG_LEVEL: 'info',
  });
  const logs: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const worker = await startOrdersWorker(config, { log, retryDelaySeconds: () => 1 });
  return Object.assign(worker, { logs });
}

let factCounter = 0;

/** A fulfillment fact as the fulfillment worker publishes it on fulfillment-events. */
export function factEvent<N extends 'payment.captured' | 'shipment.created' | 'fulfillment.failed' | 'fulfillment.compensated'>(
  name: N,
  data: EventPayload<N>,
): CloudEvent<N> {
  const n = factCounter++;
  return createEvent({
    name,
    source: 'fulfillment',
    subject: data.orderId,
    data,
    correlationId: `corr-fact-${n}`,
    traceparent: `00-${n.toString(16).padStart(32, 'a')}-00f067aa0ba902b7-01`,
  });
}

/** Collects every event that lands on one of the topology's queues (QueueTap of @securecart/messaging). */
export class QueueTap extends MessagingQueueTap {
  constructor(messaging: TestMessaging, queue: QueueName) {
    super(messaging.clients, messaging.addresses.queueUrls[queue]);
  }
}

/** Everything the primary holds about one order: its row, its history and its outbox events, by type. */
export async function storedOrder(sql: pg.Pool, orderId: string) {
  const order = await sql.query('select status, version, reason from orders.orders where id = $1', [orderId]);
  const history = await sql.query('select status from orders.status_history where order_id = $1 order by id', [orderId]);
  const outbox = await sql.query('select type from orders.outbox where subject = $1 order by created_at, id', [orderId]);
  return {
    order: order.rows[0] as { status: string; version: number; reason: string | null } | undefined,
    history: history.rows.map((r: { status: string }) => r.status),
    events: outbox.rows.map((r: { type: string }) => r.type.replace('com.securecart.', '')),
  };
}

export interface SseEvent {
  event: string;
  id: string;
  data: { orderId: string; status: string; reason: string | null; at: string };
}

/**
 * A Server-Sent Events client reading as events arrive, as EventSource does: it collects events and comment lines,
 * and knows when the server ended the stream. On node:http with a connection of its own (fetch's pool opens a
 * spare connection after an abort, which a server's close then waits for).
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** resolves when the stream is over, ended by the server or closed by the client */
  readonly ended: Promise<void>;
  endedByServer = false;
  private readonly request: http.ClientRequest;
  private buffer = '';

  private constructor(request: http.ClientRequest, response: http.IncomingMessage) {
    this.request = request;
    this.status = response.statusCode ?? 0;
    this.headers = response.headers;
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => this.receive(chunk));
    this.ended = new Promise((resolve) => {
      response.on('end', () => {
        this.endedByServer = true;
        resolve();
      });
      response.on('close', () => resolve());
      response.on('error', () => resolve());
    });
  }

  static open(url: string, authorization: string | undefined, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const request = http.get(url, { agent: false, headers: { accept: 'text/event-stream', ...(authorization ? { authorization } : {}), ...headers } });
      request.on('response', (response) => resolve(new SseClient(request, response)));
      request.on('error', reject);
    });
  }

  statuses(): string[] {
    return this.events.map((e) => e.data.status);
  }

  /** Waits until `count` events have arrived. */
  async untilEvents(count: number, timeoutMs = 10_000): Promise<SseEvent[]> {
    await waitFor(() => this.events.length >= count, { timeoutMs, what: `${count} events (have ${this.statuses().join(', ') || 'none'})` });
    return this.events;
  }

  /** Disconnects, as a browser tab closing would. */
  close(): void {
    this.request.destroy();
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      this.parse(this.buffer.slice(0, end));
      this.buffer = this.buffer.slice(end + 2);
    }
  }

  private parse(block: string): void {
    const fields: Record<string, string> = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, '');
    }
    if (fields.data !== undefined) {
      this.events.push({ event: fields.event ?? 'message', id: fields.id ?? '', data: JSON.parse(fields.data) as SseEvent['data'] });
    }
  }
}

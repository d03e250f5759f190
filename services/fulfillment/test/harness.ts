/**
 * The fulfillment worker on the run's real infrastructure: Postgres (the fulfillment and catalog schemas), Redis,
 * fauxqs with the topology under a prefix of its own, and a real catalog app listening on a port for the stock
 * reservations. Facts the worker publishes are collected from a queue of the test's own on the real `fulfillment-events`
 * topic (the orders-worker's queue takes only the facts that change an order's status).
 */
import { randomUUID } from 'node:crypto';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { Cache, MemoryStore } from '@securecart/cache';
import { buildCatalogApp, catalogMigrations } from '@securecart/catalog';
import type { EventPayload } from '@securecart/contracts';
import { migrateWithUrl, ReplicaRouter } from '@securecart/db';
import { createJwksVerifier, type App } from '@securecart/http-kit';
import { createEvent, QueueTap, type CloudEvent } from '@securecart/messaging';
import { startLocalMessaging, type LocalMessaging } from '@securecart/messaging/local';
import type { Infra, TestIdentityProvider } from '@securecart/testing';
import { fulfillmentMigrations } from '../src/db/migrations.ts';
import type { SagaRow } from '../src/db/schema.ts';

export interface FulfillmentRig {
  messaging: LocalMessaging;
  /** everything published on fulfillment-events */
  updates: QueueTap;
  catalogUrl: string;
  sql: pg.Pool;
  /** environment of a fulfillment worker on this rig (child process or loadFulfillmentConfig) */
  workerEnv(overrides?: Record<string, string>): Record<string, string>;
  product(stock: number): Promise<string>;
  publish(event: CloudEvent): Promise<void>;
  saga(orderId: string): Promise<SagaRow | undefined>;
  captures(orderId: string): Promise<{ status: string; attempts: number; paymentId: string | null }[]>;
  reservation(orderId: string): Promise<{ status: string } | undefined>;
  stock(productId: string): Promise<number>;
  /** fact types published about an order, in arrival order (`payment.captured`, ...) */
  facts(orderId: string): string[];
  close(): Promise<void>;
}

/** `outOfProcess`: the run's SNS/SQS emulator (infra.sqsEndpoint) instead of one in this process, for worker processes. */
export async function startFulfillmentRig(infra: Infra, idp: TestIdentityProvider, options: { outOfProcess?: boolean } = {}): Promise<FulfillmentRig> {
  await migrateWithUrl(infra.databaseUrl, catalogMigrations);
  await migrateWithUrl(infra.databaseUrl, fulfillmentMigrations);
  const sql = new pg.Pool({ connectionString: infra.databaseUrl, max: 6 });
  const catalogPool = new pg.Pool({ connectionString: infra.databaseUrl, max: 10 });
  const router = new ReplicaRouter({ primary: drizzle(catalogPool) });
  const cache = new Cache({ store: new MemoryStore(), namespace: infra.namespace });
  await Promise.all([router.start(), cache.start()]);
  const catalog: App = await buildCatalogApp({ db: router, cache, verifier: createJwksVerifier(idp), logger: false }, { namespace: infra.namespace });
  const catalogUrl = await catalog.listen({ port: 0, host: '127.0.0.1' });
  const messaging = await startLocalMessaging(options.outOfProcess ? { endpoint: infra.sqsEndpoint } : {});
  const updates = await QueueTap.onTopic(messaging.clients, messaging.addresses.topicArns['fulfillment-events'], `${messaging.prefix}fulfillment-events-tap`);
  const admin = `Bearer ${await idp.token('admin-fulfillment', { admin: true })}`;
  let n = 0;

  return {
    messaging,
    updates,
    catalogUrl,
    sql,
    workerEnv: (overrides = {}) => ({
      LOG_LEVEL: 'silent',
      DATABASE_URL: infra.databaseUrl,
      REDIS_URL: infra.redisUrl,
      CACHE_NAMESPACE: `${infra.namespace}:fulfillment`,
      CATALOG_INTERNAL_URL: catalogUrl,
      AWS_ENDPOINT_URL: messaging.endpoint,
      MESSAGING_PREFIX: messaging.prefix,
      OUTBOX_POLL_MS: '100',
      PROBE_PORT: '0',
      RETRY_BASE_SECONDS: '1',
      VISIBILITY_TIMEOUT_SECONDS: '5',
      ...overrides,
    }),
    product: async (stock) => {
      const id = `${Date.now().toString(36)}-${(n++).toString(36)}-${randomUUID().slice(0, 6)}`;
      const res = await catalog.inject({
        method: 'POST',
        url: '/api/catalog/products',
        headers: { authorization: admin },
        payload: { sku: `F-${id}`, slug: `fulfillment-${id}`, name: `Thing ${id}`, priceCents: 1500, category: 'test-things', stock },
      });
      if (res.statusCode !== 201) throw new Error(`could not create a product: ${res.body}`);
      return res.json<{ id: string }>().id;
    },
    publish: (event) => messaging.publisher.publish(messaging.addresses.topicArns['order-events'], [event]),
    saga: async (orderId) => {
      const { rows } = await sql.query(
        `select order_id as "orderId", status, step, attempts, last_error as "lastError", payment_voided as "paymentVoided",
                payment_refunded as "paymentRefunded", stock_released as "stockReleased", failed_step as "failedStep",
                failure_reason as "failureReason", payment_token as "paymentToken", reservation_id as "reservationId",
                payment_id as "paymentId", shipment_id as "shipmentId", tracking_number as "trackingNumber",
                lease_owner as "leaseOwner", lease_until as "leaseUntil"
           from fulfillment.sagas where order_id = $1`,
        [orderId],
      );
      return rows[0] as SagaRow | undefined;
    },
    captures: async (orderId) =>
      (await sql.query(`select status, attempts, payment_id as "paymentId" from fulfillment.simulated_payments where order_id = $1 and operation = 'capture'`, [orderId]))
        .rows,
    reservation: async (orderId) => {
      const res = await fetch(`${catalogUrl}/internal/reservations/${orderId}`);
      return res.status === 404 ? undefined : ((await res.json()) as { status: string });
    },
    stock: async (productId) => (await sql.query('select stock from catalog.products where id = $1', [productId])).rows[0].stock as number,
    facts: function (orderId) {
      return updates.about(orderId).map((e) => e.type.replace('com.securecart.', ''));
    },
    close: async () => {
      await updates.stop();
      await catalog.close();
      router.stop();
      await cache.stop();
      await messaging.close();
      await Promise.allSettled([sql.end(), catalogPool.end()]);
    },
  };
}

/** An order.placed as the orders-worker publishes it: one line of `productId`, paid with `paymentToken`. */
export function placedEvent(
  productId: string,
  overrides: Partial<EventPayload<'order.placed'>> & { quantity?: number; postalCode?: string } = {},
): CloudEvent<'order.placed'> {
  const { quantity = 1, postalCode = '10115', ...data } = overrides;
  const orderId = data.orderId ?? randomUUID();
  return createEvent({
    name: 'order.placed',
    source: 'orders-worker',
    subject: orderId,
    correlationId: `corr-${orderId}`,
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    data: {
      orderId,
      customerId: data.customerId ?? `customer-${randomUUID().slice(0, 8)}`,
      lines: [{ productId, sku: 'SKU', name: 'Thing', quantity, unitPriceCents: 1500 }],
      totalCents: 1500 * quantity,
      currency: 'EUR',
      shippingAddress: { name: 'Grace Hopper', line1: 'Unter den Linden 1', city: 'Berlin', postalCode, country: 'DE' },
      contact: { email: 'grace@example.com' },
      paymentToken: 'tok_approve',
      ...data,
    },
  });
}

export function cancelledEvent(placed: CloudEvent<'order.placed'>): CloudEvent<'order.cancelled'> {
  const { orderId, customerId, contact } = placed.data;
  return createEvent({
    name: 'order.cancelled',
    source: 'orders',
    subject: orderId,
    correlationId: `corr-${orderId}`,
    data: { orderId, customerId, contact, reason: 'cancelled by the customer' },
  });
}

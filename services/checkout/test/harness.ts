/**
 * Checkout on the run's real infrastructure: Redis, fauxqs (SNS/SQS wire protocol) with the topology bootstrapped,
 * and a real catalog (its app on real Postgres + Redis) reached over HTTP, as in production.
 */
import { randomUUID } from 'node:crypto';
import { drizzle } from 'drizzle-orm/node-postgres';
import { startFauxqs } from 'fauxqs';
import type { Redis } from 'ioredis';
import { Cache, connectRedis, RedisStore } from '@securecart/cache';
import { buildCatalogApp, catalogMigrations } from '@securecart/catalog';
import { createPool, migrateWithUrl, ReplicaRouter } from '@securecart/db';
import { createJwksVerifier, type App } from '@securecart/http-kit';
import { bootstrapTopology, createAwsClients, destroyAwsClients, SnsPublisher, type AwsClients, type MessagingAddresses } from '@securecart/messaging';
import type { Infra, TestIdentityProvider } from '@securecart/testing';
import { buildCheckoutApp } from '../src/app.ts';

export interface CheckoutWorld {
  checkout: App;
  catalog: App;
  clients: AwsClients;
  addresses: MessagingAddresses;
  fauxqsUrl: string;
  /** the prefix the topology was bootstrapped under (MESSAGING_PREFIX of a worker on the same fauxqs) */
  prefix: string;
  redis: Redis;
  buildCheckout(options?: { snsEndpoint?: string; redisUrl?: string }): Promise<App>;
  close(): Promise<void>;
}

export async function startCheckoutWorld(infra: Infra, idp: TestIdentityProvider): Promise<CheckoutWorld> {
  const closers: (() => Promise<unknown> | void)[] = [];
  const fauxqs = await startFauxqs({ port: 0, logger: false });
  closers.push(() => fauxqs.stop());
  const clients = createAwsClients({ region: 'us-east-1', endpoint: fauxqs.address });
  closers.push(() => destroyAwsClients(clients));
  const prefix = `${randomUUID().slice(0, 8)}-`;
  const addresses = await bootstrapTopology(clients, { prefix });

  await migrateWithUrl(infra.databaseUrl, catalogMigrations);
  const primary = createPool(infra.databaseUrl, { name: 'catalog-for-checkout' });
  const replica = createPool(infra.databaseReadUrl, { name: 'catalog-for-checkout-replica' });
  const catalogRedis = await connectRedis(infra.redisUrl, { name: 'catalog-for-checkout' });
  const catalogSub = await connectRedis(infra.redisUrl, { name: 'catalog-for-checkout-sub' });
  const router = new ReplicaRouter({ primary: drizzle(primary), replica: drizzle(replica) });
  const cache = new Cache({ store: new RedisStore(catalogRedis, catalogSub), namespace: `${infra.namespace}:catalog` });
  await Promise.all([router.start(), cache.start()]);
  const verifier = createJwksVerifier(idp);
  const catalog = await buildCatalogApp({ db: router, cache, verifier, logger: false }, { namespace: `${infra.namespace}:catalog` });
  const catalogUrl = await catalog.listen({ port: 0, host: '127.0.0.1' });
  closers.push(async () => {
    await catalog.close();
    router.stop();
    await cache.stop();
    catalogRedis.disconnect();
    catalogSub.disconnect();
    await Promise.allSettled([primary.end(), replica.end()]);
  });

  const redis = await connectRedis(infra.redisUrl, { name: 'checkout-test' });
  closers.push(() => redis.disconnect());
  const buildCheckout = async (options: { snsEndpoint?: string; redisUrl?: string } = {}) => {
    const snsClients = options.snsEndpoint ? createAwsClients({ region: 'us-east-1', endpoint: options.snsEndpoint, requestTimeoutMs: 1_000 }) : clients;
    const checkoutRedis = options.redisUrl ? await connectRedis(options.redisUrl, { name: 'checkout-test-2' }) : redis;
    const app = await buildCheckoutApp(
      { redis: checkoutRedis, publisher: new SnsPublisher(snsClients), topicArn: addresses.topicArns['checkout-events'], catalogUrl, verifier, logger: false },
      { namespace: `${infra.namespace}:checkout` },
    );
    await app.ready();
    closers.push(async () => {
      await app.close();
      if (snsClients !== clients) destroyAwsClients(snsClients);
      if (checkoutRedis !== redis) checkoutRedis.disconnect();
    });
    return app;
  };
  const checkout = await buildCheckout();
  return {
    checkout, catalog, clients, addresses, fauxqsUrl: fauxqs.address, prefix, redis, buildCheckout,
    close: async () => {
      for (const close of closers.reverse()) await close();
    },
  };
}

/**
 * Builds checkout's HTTP app from its dependencies. Stateless: carts and idempotency records live in Redis,
 * prices come from catalog, orders leave as order.submitted on SNS. Never listens, never reads the environment.
 */
import type { Redis } from 'ioredis';
import { createHttpApp, type App, type HttpAppOptions, type TokenVerifier } from '@securecart/http-kit';
import type { SnsPublisher } from '@securecart/messaging';
import { CartStore } from './cart-store.ts';
import { CatalogClient } from './catalog-client.ts';
import { IdempotencyStore } from './idempotency-store.ts';
import { cartRoutes } from './routes/cart.ts';
import { checkoutRoutes } from './routes/checkout.ts';

export interface CheckoutDeps {
  redis: Redis;
  publisher: SnsPublisher;
  /** ARN of the checkout-events topic */
  topicArn: string;
  catalogUrl: string;
  verifier: TokenVerifier;
  logger?: HttpAppOptions['logger'];
}

export interface CheckoutOptions {
  namespace?: string;
  rateLimit?: { max: number; windowMs: number };
  /** proxies in front that append to X-Forwarded-For (createHttpApp's trustedProxyHops) */
  trustedProxyHops?: number;
  defaultMetrics?: boolean;
  catalogTimeoutMs?: number;
}

export async function buildCheckoutApp(deps: CheckoutDeps, options: CheckoutOptions = {}): Promise<App> {
  const namespace = options.namespace ?? 'securecart';
  const app = await createHttpApp({
    service: 'checkout',
    logger: deps.logger,
    verifier: deps.verifier,
    defaultMetrics: options.defaultMetrics,
    trustedProxyHops: options.trustedProxyHops,
    docs: {
      title: 'SecureCart checkout',
      version: '0.1.0',
      description: 'Carts and idempotent checkout. A checkout is accepted (202) and becomes an order asynchronously.',
    },
    rateLimit: { max: options.rateLimit?.max ?? 300, windowMs: options.rateLimit?.windowMs ?? 60_000, redis: deps.redis, namespace },
    readiness: {
      redis: async () => {
        await deps.redis.ping();
      },
    },
  });
  const ctx = {
    carts: new CartStore(deps.redis, namespace),
    idempotency: new IdempotencyStore(deps.redis, namespace),
    catalog: new CatalogClient({ baseUrl: deps.catalogUrl, redis: deps.redis, namespace, timeoutMs: options.catalogTimeoutMs }),
    publisher: deps.publisher,
    topicArn: deps.topicArn,
  };
  await app.register(async (scope) => cartRoutes(scope as App, ctx));
  await app.register(async (scope) => checkoutRoutes(scope as App, ctx));
  return app;
}

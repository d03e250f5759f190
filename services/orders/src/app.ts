/**
 * Builds the orders service's HTTP app from its dependencies. Never listens, never reads the environment, never
 * touches a queue: server.ts does the first two, the orders-worker process (worker.ts) the last.
 */
import type { Redis } from 'ioredis';
import type { ReplicaRouter } from '@securecart/db';
import { createHttpApp, primaryReadiness, registerReadRoutingMetrics, type App, type HttpAppOptions, type TokenVerifier } from '@securecart/http-kit';
import { adminOrderRoutes } from './routes/admin-orders.ts';
import { orderEventRoutes } from './routes/order-events.ts';
import { orderRoutes } from './routes/orders.ts';
import { RecentWrites } from './routes/recent-writes.ts';
import type { OrderStatusFeed } from './status-feed.ts';

export interface OrdersDeps {
  db: ReplicaRouter;
  verifier: TokenVerifier;
  /** backs the rate limiter and read-your-writes across tasks; without it both are per process */
  redis?: Redis;
  /** status changes for live streams across tasks (wake-ups); without it the streams only poll */
  feed?: OrderStatusFeed;
  logger?: HttpAppOptions['logger'];
}

export interface OrdersOptions {
  namespace?: string;
  /** after a write, the writer reads from the primary for this long (0: never) */
  freshWindowMs?: number;
  rateLimit?: { max: number; windowMs: number };
  /** proxies in front that append to X-Forwarded-For (createHttpApp's trustedProxyHops) */
  trustedProxyHops?: number;
  bodyLimitBytes?: number;
  defaultMetrics?: boolean;
  /** the live status stream (GET /api/orders/:id/events) */
  statusStream?: {
    /** a heartbeat comment this often (default 15 s) */
    heartbeatMs?: number;
    /** how often a stream reads the history without a wake-up from the feed (default 3 s) */
    pollMs?: number;
  };
}

export const ORDERS_VERSION = '0.1.0';

export async function buildOrdersApp(deps: OrdersDeps, options: OrdersOptions = {}): Promise<App> {
  const namespace = options.namespace ?? 'securecart';
  const app = await createHttpApp({
    service: 'orders',
    logger: deps.logger,
    verifier: deps.verifier,
    bodyLimitBytes: options.bodyLimitBytes,
    defaultMetrics: options.defaultMetrics,
    trustedProxyHops: options.trustedProxyHops,
    docs: {
      title: 'SecureCart orders',
      version: ORDERS_VERSION,
      description:
        'A customer’s orders, cancellation, their live status (Server-Sent Events), and the admin view with refunds. Reads come from the read replica.',
    },
    rateLimit: {
      max: options.rateLimit?.max ?? 600,
      windowMs: options.rateLimit?.windowMs ?? 60_000,
      ...(deps.redis ? { redis: deps.redis } : {}),
      namespace,
    },
    readiness: {
      primary: primaryReadiness(deps.db),
    },
  });

  registerReadRoutingMetrics(app.metrics, deps.db);

  const ctx = {
    db: deps.db,
    recentWrites: new RecentWrites({ redis: deps.redis, namespace, windowMs: options.freshWindowMs ?? 5_000 }),
    feed: deps.feed,
  };
  const stream = { heartbeatMs: options.statusStream?.heartbeatMs ?? 15_000, pollMs: options.statusStream?.pollMs ?? 3_000 };
  await app.register(async (scope) => orderRoutes(scope as App, ctx));
  await app.register(async (scope) => orderEventRoutes(scope as App, { ...ctx, stream }));
  await app.register(async (scope) => adminOrderRoutes(scope as App, ctx));
  return app;
}

/**
 * Checkout as a deployable process: validates its environment, connects to Redis and SNS (topic ARNs from
 * Copilot's COPILOT_SNS_TOPIC_ARNS in AWS, or from bootstrapping the emulator at AWS_ENDPOINT_URL), serves, and
 * shuts down cleanly.
 */
import { pino } from 'pino';
import { connectRedis } from '@securecart/cache';
import { loadConfigOrExit, tracingEndpoints } from '@securecart/config';
import { createJwksVerifier, serve } from '@securecart/http-kit';
import { bootstrapTopology, createAwsClients, destroyAwsClients, SnsPublisher, topicArnFrom } from '@securecart/messaging';
import { startTracing } from '@securecart/telemetry';
import { buildCheckoutApp } from './app.ts';
import { loadCheckoutConfig, type CheckoutConfig } from './config.ts';

export async function startCheckoutServer(config: CheckoutConfig) {
  const log = pino({ level: config.LOG_LEVEL, base: { service: 'checkout' }, redact: ['req.headers.authorization'] });
  // Redis is where carts and idempotency keys live, not a cache: a reply that is slow because a burst keeps this
  // process busy is waited for (a 500 ms timeout fired falsely then, and refused shoppers), while a Redis that is
  // away still fails at once, since nothing is queued offline.
  const redis = await connectRedis(config.REDIS_URL, { name: 'checkout', commandTimeoutMs: 5_000 });
  const clients = createAwsClients({ region: config.AWS_REGION, endpoint: config.AWS_ENDPOINT_URL });
  const local = config.AWS_ENDPOINT_URL ? await bootstrapTopology(clients) : undefined;
  const topicArn = topicArnFrom(config, local, 'checkout-events');
  const app = await buildCheckoutApp(
    {
      redis,
      publisher: new SnsPublisher(clients),
      topicArn,
      catalogUrl: config.CATALOG_INTERNAL_URL,
      verifier: createJwksVerifier({ jwksUrl: config.AUTH_JWKS_URL, issuer: config.AUTH_ISSUER, audience: config.AUTH_AUDIENCE }),
      logger: log,
    },
    { namespace: config.CACHE_NAMESPACE, rateLimit: { max: config.RATE_LIMIT_MAX, windowMs: config.RATE_LIMIT_WINDOW_MS }, trustedProxyHops: config.TRUSTED_PROXY_HOPS, defaultMetrics: true },
  );
  const close = async () => {
    destroyAwsClients(clients);
    await redis.quit().catch(() => undefined);
  };
  return { app, close };
}

if (import.meta.main) {
  const config = loadConfigOrExit('checkout', () => loadCheckoutConfig());
  // before the app is built: createHttpApp adds the request spans only when tracing is on
  const tracing = await startTracing({ serviceName: 'checkout', ...tracingEndpoints(config) });
  const { app, close } = await startCheckoutServer(config);
  const cleanup = async () => {
    await close();
    await tracing.shutdown();
  };
  await serve(app, { port: config.PORT, host: config.HOST, cleanup });
}

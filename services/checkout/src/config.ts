/** The checkout service's environment, validated once at start (see @securecart/config). */
import { Env, loadConfig, TracingEnv, Type } from '@securecart/config';

export const CheckoutEnv = Type.Object({
  ...TracingEnv,
  NODE_ENV: Env.nodeEnv(),
  PORT: Env.port(3002),
  HOST: Type.String({ default: '0.0.0.0' }),
  LOG_LEVEL: Env.logLevel(),
  REDIS_URL: Env.url(['redis', 'rediss'], 'carts, idempotency records, price snapshots, rate limits'),
  CATALOG_INTERNAL_URL: Env.url(['http', 'https'], "catalog's internal address (never the edge)"),
  AUTH_JWKS_URL: Env.url(['http', 'https'], 'JWKS of the identity provider'),
  AUTH_ISSUER: Type.String({ minLength: 1 }),
  AUTH_AUDIENCE: Type.String({ minLength: 1 }),
  AWS_REGION: Type.String({ default: 'us-east-1', minLength: 1 }),
  AWS_ENDPOINT_URL: Type.Optional(Env.url(['http', 'https'], 'an SNS/SQS emulator (fauxqs); unset in AWS')),
  COPILOT_SNS_TOPIC_ARNS: Type.Optional(Type.String({ description: 'injected by Copilot: JSON map of topic name to ARN' })),
  CACHE_NAMESPACE: Type.String({ default: 'securecart', pattern: '^[A-Za-z0-9:_-]+$' }),
  RATE_LIMIT_MAX: Env.positiveInt(300, 'requests per window per customer or client'),
  RATE_LIMIT_WINDOW_MS: Env.positiveInt(60_000, 'rate limit window'),
  TRUSTED_PROXY_HOPS: Env.positiveInt(1, 'proxies in front that append to X-Forwarded-For: 1 behind the ALB (or the local edge), 2 with CloudFront before the ALB'),
});

export type CheckoutConfig = ReturnType<typeof loadCheckoutConfig>;
export const loadCheckoutConfig = (env: Record<string, string | undefined> = process.env) => loadConfig(CheckoutEnv, env);

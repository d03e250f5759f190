/** The catalog service's environment, validated once at start (see @securecart/config). */
import { ConfigError, Env, loadConfig, OutboxEnv, TracingEnv, Type } from '@securecart/config';
import { databaseTlsProblems } from '@securecart/db';

export const CatalogEnv = Type.Object({
  ...TracingEnv,
  NODE_ENV: Env.nodeEnv(),
  PORT: Env.port(3001),
  HOST: Type.String({ default: '0.0.0.0' }),
  LOG_LEVEL: Env.logLevel(),
  DATABASE_URL: Env.url(['postgres', 'postgresql'], 'the primary'),
  DATABASE_READ_URL: Type.Optional(Env.url(['postgres', 'postgresql'], 'a read replica; defaults to the primary')),
  DATABASE_CA: Env.databaseCa(),
  REDIS_URL: Type.Optional(Env.url(['redis', 'rediss'], 'shared cache, invalidation and rate limits')),
  AUTH_JWKS_URL: Env.url(['http', 'https'], 'JWKS of the identity provider'),
  AUTH_ISSUER: Type.String({ minLength: 1 }),
  AUTH_AUDIENCE: Type.String({ minLength: 1 }),
  REPLICA_MAX_LAG_MS: Env.positiveInt(1000, 'beyond this replica lag, reads go to the primary'),
  CACHE_NAMESPACE: Type.String({ default: 'securecart', pattern: '^[A-Za-z0-9:_-]+$' }),
  CACHE_HOT_TTL_MS: Env.positiveInt(5000, 'how long a task serves a value without asking Redis'),
  CACHE_TTL_SECONDS: Env.positiveInt(300, 'how long Redis keeps a value'),
  RATE_LIMIT_MAX: Env.positiveInt(600, 'requests per window per customer or client'),
  RATE_LIMIT_WINDOW_MS: Env.positiveInt(60_000, 'rate limit window'),
  TRUSTED_PROXY_HOPS: Env.positiveInt(1, 'proxies in front that append to X-Forwarded-For: 1 behind the ALB (or the local edge), 2 with CloudFront before the ALB'),
  AWS_REGION: Type.String({ default: 'us-east-1', minLength: 1 }),
  AWS_ENDPOINT_URL: Type.Optional(Env.url(['http', 'https'], 'an SNS/SQS emulator (fauxqs); the topology is then bootstrapped by name')),
  MESSAGING_PREFIX: Type.String({ default: '', pattern: '^[A-Za-z0-9_-]*$', description: 'emulators only: resources are named <prefix><name>' }),
  COPILOT_SNS_TOPIC_ARNS: Type.Optional(Type.String({ description: 'Copilot: JSON map of topic name to ARN (catalog-events)' })),
  ...OutboxEnv,
});

export type CatalogConfig = ReturnType<typeof loadCatalogConfig>;

export function loadCatalogConfig(env: Record<string, string | undefined> = process.env) {
  const config = loadConfig(CatalogEnv, env);
  const tlsProblems = databaseTlsProblems(config);
  if (tlsProblems.length > 0) throw new ConfigError(tlsProblems);
  if (config.NODE_ENV === 'production' && !config.REDIS_URL) {
    // Without Redis each task would cache on its own and never hear of another task's writes.
    throw new ConfigError(['REDIS_URL is required when NODE_ENV=production']);
  }
  if (config.NODE_ENV === 'production' && !config.AWS_ENDPOINT_URL && !config.COPILOT_SNS_TOPIC_ARNS) {
    // Elsewhere catalog-events wait in the outbox until a topic is configured; in production they must flow.
    throw new ConfigError(['COPILOT_SNS_TOPIC_ARNS (or AWS_ENDPOINT_URL) is required when NODE_ENV=production']);
  }
  return config;
}

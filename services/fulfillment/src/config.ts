/** The fulfillment worker's environment, validated once at start (see @securecart/config). */
import { ConfigError, Env, loadConfig, OutboxEnv, TracingEnv, Type } from '@securecart/config';
import { databaseTlsProblems } from '@securecart/db';

export const FulfillmentEnv = Type.Object({
  ...TracingEnv,
  NODE_ENV: Env.nodeEnv(),
  LOG_LEVEL: Env.logLevel(),
  DATABASE_URL: Env.url(['postgres', 'postgresql'], 'the primary'),
  DATABASE_CA: Env.databaseCa(),
  REDIS_URL: Env.url(['redis', 'rediss'], 'velocity counters of the fraud check, shared by every task'),
  CACHE_NAMESPACE: Type.String({ default: 'securecart', pattern: '^[A-Za-z0-9:_-]+$', description: 'prefix of every Redis key' }),
  CATALOG_INTERNAL_URL: Env.url(['http', 'https'], "the catalog's internal API (stock reservations)"),
  CATALOG_TIMEOUT_MS: Env.positiveInt(2000, 'timeout of a call to the catalog'),
  AWS_REGION: Type.String({ default: 'us-east-1', minLength: 1 }),
  AWS_ENDPOINT_URL: Type.Optional(Env.url(['http', 'https'], 'an SQS/SNS emulator; the topology is then bootstrapped by name')),
  MESSAGING_PREFIX: Type.String({ default: '', pattern: '^[A-Za-z0-9_-]*$', description: 'emulators only: resources are named <prefix><name>' }),
  COPILOT_SNS_TOPIC_ARNS: Type.Optional(Type.String({ description: 'Copilot: JSON map of topic name to ARN (fulfillment-events)' })),
  COPILOT_QUEUE_URI: Type.Optional(Type.String({ description: 'Copilot: the worker’s queue (fulfillment)' })),
  ...OutboxEnv,
  PROBE_PORT: Env.port(3104),
  POLLERS: Env.positiveInt(2, 'concurrent receive loops on the fulfillment queue (each handles a batch of up to 10)'),
  VISIBILITY_TIMEOUT_SECONDS: Env.positiveInt(30, 'how long a received message stays hidden; also the lease on a saga'),
  RETRY_BASE_SECONDS: Type.Integer({ minimum: 0, default: 1, description: 'first retry delay (s) after a transient failure; doubles per receive, at most 15 min' }),
  STUCK_SAGA_AFTER_SECONDS: Env.positiveInt(600, 'a saga RUNNING or COMPENSATING with no progress for this long, and no lease, is resumed by the worker itself'),
  STUCK_SAGA_CHECK_SECONDS: Env.positiveInt(30, 'how often the worker looks for stuck sagas'),
  FRAUD_MAX_ORDER_CENTS: Env.positiveInt(1_000_000, 'orders above this total (minor units) are rejected'),
  FRAUD_VELOCITY_MAX: Env.positiveInt(20, 'more orders than this by one customer within the window are rejected'),
  FRAUD_VELOCITY_WINDOW_SECONDS: Env.positiveInt(600, 'the velocity window'),
  PAYMENT_GATEWAY: Type.Union([Type.Literal('simulated')], { default: 'simulated', description: 'simulated: tokens decide (docs/simulated-providers.md)' }),
  SHIPPING_PROVIDER: Type.Union([Type.Literal('simulated')], { default: 'simulated', description: 'simulated: postal codes decide' }),
});

export type FulfillmentConfig = ReturnType<typeof loadFulfillmentConfig>;

export function loadFulfillmentConfig(env: Record<string, string | undefined> = process.env) {
  const config = loadConfig(FulfillmentEnv, env);
  const problems = databaseTlsProblems(config);
  if (!config.AWS_ENDPOINT_URL) {
    // In AWS nothing is bootstrapped: Copilot's variables are the only way to find the queue and the topic.
    if (!config.COPILOT_QUEUE_URI) problems.push('COPILOT_QUEUE_URI is required unless AWS_ENDPOINT_URL is set');
    if (!config.COPILOT_SNS_TOPIC_ARNS) problems.push('COPILOT_SNS_TOPIC_ARNS is required unless AWS_ENDPOINT_URL is set');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Retry delay of the n-th receive after a transient failure: base, 2×base, 4×base … at most 15 minutes. */
export const retryDelay = (baseSeconds: number) => (receiveCount: number) => Math.min(baseSeconds * 2 ** Math.max(0, receiveCount - 1), 900);

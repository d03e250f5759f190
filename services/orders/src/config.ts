/**
 * The environment of the orders service's two processes, validated once at start (see @securecart/config):
 * the HTTP service (server.ts) and the orders-worker (worker.ts).
 */
import { ConfigError, Env, loadConfig, OutboxEnv, TracingEnv, Type } from '@securecart/config';
import { databaseTlsProblems } from '@securecart/db';
import { parseCopilotMap, queueUrlFrom, type QueueName } from '@securecart/messaging';

const Common = {
  ...TracingEnv,
  NODE_ENV: Env.nodeEnv(),
  LOG_LEVEL: Env.logLevel(),
  DATABASE_URL: Env.url(['postgres', 'postgresql'], 'the primary'),
  DATABASE_CA: Env.databaseCa(),
  CACHE_NAMESPACE: Type.String({ default: 'securecart', pattern: '^[A-Za-z0-9:_-]+$', description: 'prefix of every Redis key and channel' }),
};

export const OrdersEnv = Type.Object({
  ...Common,
  PORT: Env.port(3003),
  HOST: Type.String({ default: '0.0.0.0' }),
  DATABASE_READ_URL: Type.Optional(Env.url(['postgres', 'postgresql'], 'a read replica; defaults to the primary')),
  REDIS_URL: Type.Optional(Env.url(['redis', 'rediss'], 'rate limits, read-your-writes and live status wake-ups across tasks')),
  AUTH_JWKS_URL: Env.url(['http', 'https'], 'JWKS of the identity provider'),
  AUTH_ISSUER: Type.String({ minLength: 1 }),
  AUTH_AUDIENCE: Type.String({ minLength: 1 }),
  REPLICA_MAX_LAG_MS: Env.positiveInt(1000, 'beyond this replica lag, reads go to the primary'),
  FRESH_READ_WINDOW_MS: Env.positiveInt(5000, 'after a write, the writer reads from the primary for this long'),
  RATE_LIMIT_MAX: Env.positiveInt(600, 'requests per window per customer or client'),
  RATE_LIMIT_WINDOW_MS: Env.positiveInt(60_000, 'rate limit window'),
  TRUSTED_PROXY_HOPS: Env.positiveInt(1, 'proxies in front that append to X-Forwarded-For: 1 behind the ALB (or the local edge), 2 with CloudFront before the ALB'),
  STATUS_STREAM_HEARTBEAT_MS: Env.positiveInt(15_000, 'a live status stream sends a heartbeat comment this often'),
  STATUS_STREAM_POLL_MS: Env.positiveInt(3_000, 'a live status stream reads the status history this often without a wake-up'),
});

export const OrdersWorkerEnv = Type.Object({
  ...Common,
  AWS_REGION: Type.String({ default: 'us-east-1', minLength: 1 }),
  AWS_ENDPOINT_URL: Type.Optional(Env.url(['http', 'https'], 'an SQS/SNS emulator; the topology is then bootstrapped by name')),
  MESSAGING_PREFIX: Type.String({ default: '', pattern: '^[A-Za-z0-9_-]*$', description: 'emulators only: resources are named <prefix><name>' }),
  COPILOT_SNS_TOPIC_ARNS: Type.Optional(Type.String({ description: 'Copilot: JSON map of topic name to ARN' })),
  COPILOT_QUEUE_URI: Type.Optional(Type.String({ description: 'Copilot: the worker’s shared queue (orders-intake)' })),
  COPILOT_TOPIC_QUEUE_URIS: Type.Optional(Type.String({ description: 'Copilot: JSON map of topic-specific queues (orders-fulfillment-updates)' })),
  REDIS_URL: Type.Optional(Env.url(['redis', 'rediss'], 'status changes are published here for live streams')),
  ...OutboxEnv,
  PROBE_PORT: Env.port(3103),
  INTAKE_POLLERS: Env.positiveInt(4, 'concurrent receive loops on orders-intake (each handles a batch of up to 10)'),
  FULFILLMENT_POLLERS: Env.positiveInt(2, 'concurrent receive loops on orders-fulfillment-updates'),
  VISIBILITY_TIMEOUT_SECONDS: Env.positiveInt(30, 'how long a received message stays hidden (extended while it is handled): a crashed task\'s messages come back after it'),
});

export type OrdersConfig = ReturnType<typeof loadOrdersConfig>;
export type OrdersWorkerConfig = ReturnType<typeof loadOrdersWorkerConfig>;

export function loadOrdersConfig(env: Record<string, string | undefined> = process.env) {
  const config = loadConfig(OrdersEnv, env);
  const tlsProblems = databaseTlsProblems(config);
  if (tlsProblems.length > 0) throw new ConfigError(tlsProblems);
  if (config.NODE_ENV === 'production' && !config.REDIS_URL) {
    // Without Redis a customer's read after their cancel may reach another task, which would send it to the replica.
    throw new ConfigError(['REDIS_URL is required when NODE_ENV=production']);
  }
  return config;
}

export function loadOrdersWorkerConfig(env: Record<string, string | undefined> = process.env) {
  const config = loadConfig(OrdersWorkerEnv, env);
  const tlsProblems = databaseTlsProblems(config);
  if (tlsProblems.length > 0) throw new ConfigError(tlsProblems);
  if (!config.AWS_ENDPOINT_URL) {
    // In AWS nothing is bootstrapped: Copilot's variables are the only way to find the queues and the topic.
    const problems: string[] = [];
    const copilot = { COPILOT_QUEUE_URI: config.COPILOT_QUEUE_URI, COPILOT_TOPIC_QUEUE_URIS: config.COPILOT_TOPIC_QUEUE_URIS };
    try {
      parseCopilotMap('COPILOT_TOPIC_QUEUE_URIS', copilot.COPILOT_TOPIC_QUEUE_URIS);
      const found = (queue: QueueName, shared: boolean) => {
        try {
          return queueUrlFrom(copilot, undefined, queue, { shared });
        } catch {
          return undefined;
        }
      };
      if (!found('orders-intake', true)) problems.push('COPILOT_QUEUE_URI is required unless AWS_ENDPOINT_URL is set');
      if (!found('orders-fulfillment-updates', false)) {
        problems.push('COPILOT_TOPIC_QUEUE_URIS must name the orders-fulfillment-updates queue unless AWS_ENDPOINT_URL is set');
      }
    } catch (error) {
      problems.push((error as Error).message);
    }
    if (!config.COPILOT_SNS_TOPIC_ARNS) problems.push('COPILOT_SNS_TOPIC_ARNS is required unless AWS_ENDPOINT_URL is set');
    if (problems.length > 0) throw new ConfigError(problems);
  }
  return config;
}

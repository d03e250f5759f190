/**
 * The notifications worker's environment, validated once at start (see @securecart/config).
 *
 * Channels: `aws` sends email through SES and SMS through SNS; `local-sink` writes each delivery as a JSON file in
 * LOCAL_SINK_DIR, for embedded mode, compose and tests. The default is `local-sink`, except under
 * NODE_ENV=production, where it is `aws` and `local-sink` is refused: a production worker that writes customers'
 * emails to a folder would acknowledge every message and tell nobody.
 */
import { ConfigError, Env, loadConfig, TracingEnv, Type } from '@securecart/config';
import { databaseTlsProblems } from '@securecart/db';

/** `orders@shop.example` or `Shop <orders@shop.example>`: the forms SES accepts as FromEmailAddress. */
const FROM_ADDRESS = /^(?:[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+|[^<>\r\n]+ <[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+>)$/;

export const NOTIFY_CHANNELS = ['aws', 'local-sink'] as const;
export type NotifyChannels = (typeof NOTIFY_CHANNELS)[number];

export const NotificationsWorkerEnv = Type.Object({
  ...TracingEnv,
  NODE_ENV: Env.nodeEnv(),
  LOG_LEVEL: Env.logLevel(),
  DATABASE_URL: Env.url(['postgres', 'postgresql'], 'the primary'),
  DATABASE_CA: Env.databaseCa(),
  AWS_REGION: Type.String({ default: 'us-east-1', minLength: 1 }),
  AWS_ENDPOINT_URL: Type.Optional(Env.url(['http', 'https'], 'an SQS/SNS emulator; the topology is then bootstrapped by name')),
  MESSAGING_PREFIX: Type.String({ default: '', pattern: '^[A-Za-z0-9_-]*$', description: 'emulators only: resources are named <prefix><name>' }),
  COPILOT_QUEUE_URI: Type.Optional(Type.String({ description: 'Copilot: the worker’s queue (notifications)' })),
  COPILOT_TOPIC_QUEUE_URIS: Type.Optional(Type.String({ description: 'Copilot: JSON map of topic-specific queue names to URLs' })),
  PROBE_PORT: Env.port(3105),
  NOTIFY_CHANNELS: Type.Optional(Type.Union(NOTIFY_CHANNELS.map((c) => Type.Literal(c)), { description: 'aws (SES + SNS) or local-sink (a folder)' })),
  NOTIFY_EMAIL_FROM: Type.Optional(Type.String({ description: 'a verified SES identity: orders@shop.example or Shop <orders@shop.example>' })),
  NOTIFY_SES_CONFIGURATION_SET: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'SES configuration set (event publishing)' })),
  NOTIFY_SHOP_NAME: Type.String({ default: 'SecureCart', minLength: 1, maxLength: 40, pattern: '^[^<>"\\r\\n]+$', description: 'the shop name customers read in every message' }),
  NOTIFY_CONCURRENCY: Env.positiveInt(8, 'deliveries in flight at once; each holds a database connection while the provider answers'),
  LOCAL_SINK_DIR: Type.String({ default: '.data/notifications', minLength: 1, description: 'local-sink: where each delivery is written' }),
});

export type NotificationsWorkerConfig = ReturnType<typeof loadNotificationsWorkerConfig>;

/** The sender in local-sink mode when none is configured: only ever read by a developer. */
export const localEmailFrom = (shopName: string) => `${shopName} <orders@securecart.localhost>`;

export function loadNotificationsWorkerConfig(env: Record<string, string | undefined> = process.env) {
  const config = loadConfig(NotificationsWorkerEnv, env);
  const production = config.NODE_ENV === 'production';
  const channels: NotifyChannels = config.NOTIFY_CHANNELS ?? (production ? 'aws' : 'local-sink');
  const problems: string[] = databaseTlsProblems(config);
  if (config.NOTIFY_EMAIL_FROM !== undefined && !FROM_ADDRESS.test(config.NOTIFY_EMAIL_FROM)) {
    problems.push(`NOTIFY_EMAIL_FROM must be an address (orders@shop.example) or a name and an address (Shop <orders@shop.example>) (got "${config.NOTIFY_EMAIL_FROM.slice(0, 80)}")`);
  }
  if (production && channels === 'local-sink') {
    problems.push('NOTIFY_CHANNELS=local-sink is refused when NODE_ENV=production: customers would never receive a message (use aws)');
  }
  if (channels === 'aws' && !config.NOTIFY_EMAIL_FROM) {
    problems.push(
      `NOTIFY_EMAIL_FROM is required when NOTIFY_CHANNELS=aws${config.NOTIFY_CHANNELS ? '' : ' (the default under NODE_ENV=production)'}: ` +
        'an address or domain verified in SES, e.g. "Shop <orders@shop.example>"',
    );
  }
  if (!config.AWS_ENDPOINT_URL && !config.COPILOT_QUEUE_URI && !config.COPILOT_TOPIC_QUEUE_URIS) {
    // In AWS nothing is bootstrapped: Copilot's variables are the only way to find the queue.
    problems.push('COPILOT_QUEUE_URI (or COPILOT_TOPIC_QUEUE_URIS) is required unless AWS_ENDPOINT_URL is set');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    ...config,
    NOTIFY_CHANNELS: channels,
    NOTIFY_EMAIL_FROM: config.NOTIFY_EMAIL_FROM ?? localEmailFrom(config.NOTIFY_SHOP_NAME),
  });
}

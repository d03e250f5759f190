/**
 * The notifications worker process: consumes the `notifications` queue (order.confirmed, .shipped, .rejected,
 * .cancelled, .refunded) and tells each customer by email and/or SMS, through SES and SNS (NOTIFY_CHANNELS=aws)
 * or the local sink folder (local-sink). In AWS the queue comes from Copilot's variables; with AWS_ENDPOINT_URL
 * (an emulator) the topology is bootstrapped and the queue found by name.
 * SIGTERM stops taking messages, finishes the deliveries in flight, closes the pool and clients, exits 0.
 */
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pino, type Logger } from 'pino';
import { loadConfigOrExit, tracingEndpoints } from '@securecart/config';
import { startTracing } from '@securecart/telemetry';
import { createPool, describeDatabaseTls, migrateWithUrl } from '@securecart/db';
import { buildWorkerProbe, runWorkerMain, workerRegistry } from '@securecart/http-kit';
import { bootstrapTopology, createAwsClients, destroyAwsClients, QueueConsumer, queueUrlFrom, type AwsClients } from '@securecart/messaging';
import { createLocalSink } from './channels/local-sink.ts';
import type { Senders } from './channels/ports.ts';
import { SesEmailSender } from './channels/ses-email-sender.ts';
import { SnsSmsSender } from './channels/sns-sms-sender.ts';
import { loadNotificationsWorkerConfig, type NotificationsWorkerConfig } from './config.ts';
import { notificationsMigrations } from './db/migrations.ts';
import { notificationHandlers } from './handlers/order-notification.handler.ts';

export interface NotificationsWorker {
  consumer: QueueConsumer;
  /** stops the consumer (finishing the deliveries in flight), then closes every connection */
  stop(): Promise<void>;
}

/** Receive loops on the queue; each takes up to 10 messages, and NOTIFY_CONCURRENCY bounds the sends among them. */
const POLLERS = 2;

/** The channels NOTIFY_CHANNELS names, with a readiness check where there is something cheap to check. */
async function openChannels(
  config: NotificationsWorkerConfig,
  clients: AwsClients,
): Promise<{ senders: Senders; checks: Record<string, () => Promise<void>>; describe: Record<string, string>; close: () => void }> {
  if (config.NOTIFY_CHANNELS === 'aws') {
    const ses = new SESv2Client({
      region: config.AWS_REGION,
      maxAttempts: 2,
      requestHandler: { requestTimeout: 5_000, connectionTimeout: 1_000 },
      ...(config.AWS_ENDPOINT_URL ? { endpoint: config.AWS_ENDPOINT_URL, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
    });
    const senders: Senders = {
      email: new SesEmailSender({ client: ses, from: config.NOTIFY_EMAIL_FROM, configurationSet: config.NOTIFY_SES_CONFIGURATION_SET }),
      sms: new SnsSmsSender({ client: clients.sns }),
    };
    return { senders, checks: {}, describe: {}, close: () => ses.destroy() };
  }
  const sink = createLocalSink(config.LOCAL_SINK_DIR, { from: config.NOTIFY_EMAIL_FROM });
  // Refuse to start on a folder that cannot be written, rather than dead-letter every message.
  await sink.check().catch((error: unknown) => {
    throw new Error(`LOCAL_SINK_DIR ${sink.dir} cannot be written: ${(error as Error).message}`, { cause: error });
  });
  return { senders: sink, checks: { sink: () => sink.check() }, describe: { sinkDir: sink.dir }, close: () => undefined };
}

export async function startNotificationsWorker(config: NotificationsWorkerConfig, options: { log?: Logger } = {}): Promise<NotificationsWorker> {
  const log = options.log ?? pino({ level: config.LOG_LEVEL, base: { service: 'notifications' } });
  log.info({ tls: describeDatabaseTls(config.DATABASE_URL, config.DATABASE_CA) }, 'database TLS');
  await migrateWithUrl(config.DATABASE_URL, notificationsMigrations, { ca: config.DATABASE_CA });
  const closers: (() => Promise<unknown> | void)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch {
        // closing what is left matters more than why one part would not close
      }
    }
  };
  try {
    const clients = createAwsClients({ region: config.AWS_REGION, endpoint: config.AWS_ENDPOINT_URL });
    closers.push(() => destroyAwsClients(clients));
    const channels = await openChannels(config, clients);
    closers.push(channels.close);
    // One connection per delivery in flight (a claim or a mark; none is held while the provider answers), and spares
    // for probes.
    const pool = createPool(config.DATABASE_URL, {
      name: 'notifications-worker',
      max: config.NOTIFY_CONCURRENCY + 2,
      ca: config.DATABASE_CA,
      onError: (error) => log.warn({ err: error }, 'database connection failed'),
    });
    closers.push(() => pool.end());
    const local = config.AWS_ENDPOINT_URL ? await bootstrapTopology(clients, { prefix: config.MESSAGING_PREFIX }) : undefined;
    const queueUrl = queueUrlFrom(
      { COPILOT_QUEUE_URI: config.COPILOT_QUEUE_URI, COPILOT_TOPIC_QUEUE_URIS: config.COPILOT_TOPIC_QUEUE_URIS },
      local,
      'notifications',
    );

    const registry = workerRegistry('notifications');
    const consumer = new QueueConsumer({
      sqs: clients.sqs,
      queueUrl,
      queueName: 'notifications',
      pollers: POLLERS,
      handlers: notificationHandlers({
        db: drizzle(pool),
        senders: channels.senders,
        log,
        shopName: config.NOTIFY_SHOP_NAME,
        concurrency: config.NOTIFY_CONCURRENCY,
        metrics: registry,
      }),
      metrics: registry,
      log,
    });
    const probe = await buildWorkerProbe({
      registry,
      checks: {
        database: async () => {
          await pool.query('select 1');
        },
        consumer: async () => {
          if (!consumer.running) throw new Error('not consuming');
        },
        ...channels.checks,
      },
    });
    closers.push(() => probe.close());
    await probe.listen({ port: config.PROBE_PORT, host: '0.0.0.0' });
    consumer.start();
    log.info({ queueUrl, channels: config.NOTIFY_CHANNELS, ...channels.describe, probePort: config.PROBE_PORT }, 'notifications worker started');

    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        probe.draining = true;
        await consumer.stop();
        await closeAll();
      })();
      return stopping;
    };
    return { consumer, stop };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

async function main() {
  const config = loadConfigOrExit('notifications', () => loadNotificationsWorkerConfig());
  const log = pino({ level: config.LOG_LEVEL, base: { service: 'notifications' } });
  const tracing = await startTracing({ serviceName: 'notifications', ...tracingEndpoints(config) });
  await runWorkerMain({ log, start: () => startNotificationsWorker(config, { log }), inFlight: 'deliveries', cleanup: tracing.shutdown });
}

if (import.meta.main) await main();

/**
 * The transactional outbox (DESIGN §3). A service writes its change and the event row in one transaction
 * (`enqueueEvent`); the relay publishes unpublished rows in batches and marks them. Batches are claimed with
 * `FOR UPDATE SKIP LOCKED`, so any number of relay instances can run: each row is claimed by one of them. A relay
 * that crashes after publishing and before committing publishes those rows again: delivery is at-least-once,
 * and consumers make the effect exactly-once (processed-events.ts). LISTEN/NOTIFY wakes the relay at once after
 * a commit; otherwise it polls.
 */
import { sql } from 'drizzle-orm';
import { index, jsonb, text, timestamp, uuid, type PgSchema } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import { Gauge, type Registry } from 'prom-client';
import type { EventName } from '@securecart/contracts';
import { inTransaction, type Db } from '@securecart/db';
import type { CloudEvent } from './envelope.ts';
import { PublishError, type SnsPublisher } from './publisher.ts';
import { MessagingConfigError } from './addresses.ts';
import { topicOf, TOPOLOGY, type TopicName } from './topology.ts';
import { eventNameOf } from './envelope.ts';

/** The outbox table of a service's own schema: export it from the service's drizzle schema file. */
export function outboxTable(schema: PgSchema) {
  return schema.table(
    'outbox',
    {
      id: uuid('id').primaryKey(),
      topic: text('topic').notNull(),
      type: text('type').notNull(),
      subject: text('subject').notNull(),
      envelope: jsonb('envelope').notNull(),
      createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
      publishedAt: timestamp('published_at', { withTimezone: true }),
    },
    (t) => [index('outbox_unpublished_idx').on(t.createdAt).where(sql`${t.publishedAt} is null`)],
  );
}

export const notifyChannel = (schemaName: string) => `${schemaName}_outbox`;

/** Writes the event into the outbox inside the caller's transaction, and wakes the relay when it commits. */
export async function enqueueEvent(tx: Db, schemaName: string, event: CloudEvent): Promise<void> {
  const name = eventNameOf(event.type) as EventName;
  await tx.execute(sql`
    insert into ${sql.identifier(schemaName)}.outbox (id, topic, type, subject, envelope)
    values (${event.id}, ${topicOf(name)}, ${event.type}, ${event.subject}, ${JSON.stringify(event)}::jsonb)`);
  await tx.execute(sql`select pg_notify(${notifyChannel(schemaName)}, '')`);
}

interface OutboxRow {
  id: string;
  topic: TopicName;
  envelope: CloudEvent;
}

export interface OutboxRelayOptions {
  /** the service's primary (node-postgres or PGlite) */
  db: Db;
  schema: string;
  publisher: SnsPublisher;
  /** the ARN of every topic the relay publishes to: checked when the relay is made */
  topicArns: Partial<Record<TopicName, string>>;
  /** the process whose outbox this is, as TOPOLOGY names its topics' publisher: its topics must all have an ARN.
   * Without it, every topic must. */
  owner?: string;
  batchSize?: number;
  /** polling interval when nothing wakes the relay */
  intervalMs?: number;
  /** a dedicated node-postgres client for LISTEN; without it the relay polls */
  listenClient?: pg.Client;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export class OutboxRelay {
  readonly stats = { published: 0, failures: 0, batches: 0 };
  private readonly options: OutboxRelayOptions;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** a NOTIFY came while no one was waiting (a batch was being published): look again before sleeping */
  private notified = false;
  private backoffMs = 0;

  constructor(options: OutboxRelayOptions) {
    const topics = (Object.keys(TOPOLOGY.topics) as TopicName[]).filter((topic) => options.owner === undefined || TOPOLOGY.topics[topic].publisher === options.owner);
    if (topics.length === 0) throw new MessagingConfigError(`outbox relay: no topic in the topology is published by ${options.owner}`);
    const missing = topics.filter((topic) => !options.topicArns[topic]);
    if (missing.length > 0) throw new MessagingConfigError(`outbox relay${options.owner ? ` of ${options.owner}` : ''}: no ARN for ${missing.join(', ')}`);
    this.options = options;
  }

  /** Claims one batch, publishes it, marks what was published. Returns how many were published. */
  async runOnce(): Promise<number> {
    const { db, schema, batchSize = 100 } = this.options;
    const table = sql`${sql.identifier(schema)}.outbox`;
    const failed = new Set<string>();
    const published = await inTransaction(db, async (tx) => {
      const result = await tx.execute(
        sql`select id, topic, envelope from ${table} where published_at is null order by created_at, id limit ${batchSize} for update skip locked`,
      );
      const rows = (result as unknown as { rows: OutboxRow[] }).rows.map((r) => ({
        ...r,
        // node-postgres parses jsonb; PGlite too, but be sure
        envelope: typeof r.envelope === 'string' ? (JSON.parse(r.envelope) as CloudEvent) : r.envelope,
      }));
      if (rows.length === 0) return [];
      for (const [topic, events] of groupByTopic(rows)) {
        const arn = this.options.topicArns[topic];
        if (!arn) {
          // a row for a topic this relay does not publish: it must not hold the others up
          events.forEach((event) => failed.add(event.id));
          this.options.log?.warn({ topic, failed: events.length }, 'outbox: rows for a topic this relay has no ARN for; they stay');
          continue;
        }
        try {
          await this.options.publisher.publish(arn, events);
        } catch (error) {
          if (!(error instanceof PublishError)) throw error;
          error.failedIds.forEach((id) => failed.add(id));
          this.options.log?.warn({ err: error, topic, failed: error.failedIds.length }, 'outbox: publishing failed; rows stay for the next attempt');
        }
      }
      const done = rows.map((r) => r.id).filter((id) => !failed.has(id));
      if (done.length > 0) {
        await tx.execute(sql`update ${table} set published_at = now() where id in (${sql.join(done.map((id) => sql`${id}::uuid`), sql`, `)})`);
      }
      return done;
    });
    if (published.length > 0) this.stats.batches++;
    this.stats.published += published.length;
    this.stats.failures += failed.size;
    if (failed.size > 0) throw new PublishError(`${failed.size} outbox events were not published`, [...failed]);
    return published.length;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const listener = this.options.listenClient;
    if (listener) {
      listener.on('notification', () => {
        this.notified = true;
        this.wake?.();
      });
      await listener.query(`listen ${quoteIdent(notifyChannel(this.options.schema))}`);
    }
    this.loop = this.run();
  }

  /** Finishes the batch in flight, then stops. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { batchSize = 100, intervalMs = 500 } = this.options;
    while (this.running) {
      let published = 0;
      // Cleared before the claim: rows committed before it are in this batch; a NOTIFY during it means more came.
      this.notified = false;
      try {
        published = await this.runOnce();
        this.backoffMs = 0;
      } catch (error) {
        // SNS or the database is away: wait longer each time, up to 30 s. Rows wait in the table.
        this.backoffMs = Math.min(Math.max(this.backoffMs * 2, 500), 30_000);
        this.options.log?.warn({ err: error, retryInMs: this.backoffMs }, 'outbox relay: batch failed');
      }
      if ((published === batchSize || this.notified) && this.backoffMs === 0) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.backoffMs || intervalMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }
}

function groupByTopic(rows: OutboxRow[]): Map<TopicName, CloudEvent[]> {
  const groups = new Map<TopicName, CloudEvent[]>();
  for (const row of rows) {
    const list = groups.get(row.topic) ?? [];
    list.push(row.envelope);
    groups.set(row.topic, list);
  }
  return groups;
}

function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain identifier: ${name}`);
  return `"${name}"`;
}

/** The relay's counts as the `outbox_events{outcome}` gauge of a worker's registry (counts since the task started). */
export function registerOutboxMetrics(registry: Registry, relay: OutboxRelay): void {
  new Gauge({
    name: 'outbox_events',
    help: 'Outbox events relayed by this task, by outcome',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.set({ outcome: 'published' }, relay.stats.published);
      this.set({ outcome: 'failed' }, relay.stats.failures);
    },
  });
}

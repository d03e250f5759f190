/**
 * The transactional outbox (docs/architecture.md). A service writes its change and the event row in one transaction
 * (`enqueueEvent`); the relay publishes unpublished rows in batches and marks them. Batches are claimed with
 * `FOR UPDATE SKIP LOCKED`, so any number of relay instances can run: each row is claimed by one of them. A relay
 * that crashes after publishing and before committing publishes those rows again: delivery is at-least-once,
 * and consumers make the effect exactly-once (processed-events.ts). LISTEN/NOTIFY wakes the relay at once after
 * a commit; otherwise it polls.
 *
 * Poison is isolated per row. When SNS refuses a row (its topic does not exist, a parameter is invalid) or the relay
 * cannot publish it (no ARN for its topic), the row alone is charged an attempt, with its error and a next attempt
 * after a jittered exponential backoff; the others go on. After `maxAttempts` (or at once when it is over SNS's size
 * limit) the row is dead: never tried again until an operator retries it (`pnpm ops outbox retry`), counted in the
 * `outbox_dead_events` gauge and logged (`outboxDeadEvents`) for the alarm. An outage (SNS unreachable, throttling,
 * a 5xx) charges no row: the relay backs off as a whole. Published rows and the schema's `processed_events` are
 * pruned after a retention (7 days by default; see OUTBOX_DEFAULTS).
 *
 * The LISTEN connection is the relay's own: when it is lost (the primary restarted or failed over, a network cut) the
 * relay polls meanwhile and connects a new one, backing off up to 5 s. A lost connection used to stay lost, and every
 * event then waited for the polling interval until the process was replaced.
 */
import { sql, type SQL } from 'drizzle-orm';
import { index, integer, jsonb, text, timestamp, uuid, type PgSchema } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import { Gauge, type Registry } from 'prom-client';
import type { EventName } from '@securecart/contracts';
import { affectedRows, executePrepared, inTransaction, rowsOf, type Db } from '@securecart/db';
import type { CloudEvent } from './envelope.ts';
import { PublishError, type PublishFailure, type SnsPublisher } from './publisher.ts';
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
      /** attempts SNS refused (an outage charges none) */
      attempts: integer('attempts').notNull().default(0),
      lastError: text('last_error'),
      /** not claimed before this (backoff after a refusal) */
      nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
      /** set after the last attempt: the row waits for an operator */
      deadAt: timestamp('dead_at', { withTimezone: true }),
    },
    (t) => [
      index('outbox_unpublished_idx').on(t.createdAt).where(sql`${t.publishedAt} is null and ${t.deadAt} is null`),
      index('outbox_published_idx').on(t.publishedAt).where(sql`${t.publishedAt} is not null`),
      index('outbox_dead_idx').on(t.deadAt).where(sql`${t.deadAt} is not null`),
    ],
  );
}

export const notifyChannel = (schemaName: string) => `${schemaName}_outbox`;

/**
 * Writes the event into the outbox inside the caller's transaction, and wakes the relay when it commits: one
 * statement, one round trip. With `notify: false` the commit sends no NOTIFY and the caller wakes the relays of its
 * own process after the commit (wakeOutboxRelays). A NOTIFY serializes commits database-wide (Postgres queues
 * notifications in commit order under one lock), so the hot paths whose process runs the relay skip it: in a flash
 * sale the catalog's reservation holds the product's row until its commit, and waited for that lock with it.
 */
export async function enqueueEvent(tx: Db, schemaName: string, event: CloudEvent, options: { notify?: boolean } = {}): Promise<void> {
  const name = eventNameOf(event.type) as EventName;
  const insert = sql`
      insert into ${sql.identifier(schemaName)}.outbox (id, topic, type, subject, envelope)
      values (${event.id}, ${topicOf(name)}, ${event.type}, ${event.subject}, ${JSON.stringify(event)}::jsonb)`;
  if (options.notify === false) {
    await tx.execute(insert);
    return;
  }
  await tx.execute(sql`
    with inserted as (${insert} returning id)
    select pg_notify(${notifyChannel(schemaName)}, '') from inserted`);
}

/** The relays running in this process, by schema: a writer here wakes them without a NOTIFY. */
const localRelays = new Map<string, Set<OutboxRelay>>();

/** Wakes this process's relays of `schemaName` at once: call it after committing outbox rows written without a NOTIFY.
 * Relays of other processes find the rows at their next poll, so a process that writes so must run a relay. */
export function wakeOutboxRelays(schemaName: string): void {
  for (const relay of localRelays.get(schemaName) ?? []) relay.wakeUp();
}

/**
 * The outbox rows of `events` as a statement to run inside another one (a data-modifying CTE: `with changed as (update
 * ... returning *), queued as (${outboxInsert(...)}) select ...`), so that a change and its events are one statement
 * and one round trip instead of a transaction of four. The rows are written only where `onlyIf` holds (say, `exists
 * (select 1 from changed)`); it returns their ids, and the caller wakes the relay with
 * `select pg_notify(notifyChannel(schema), '') from queued`, or after the statement with wakeOutboxRelays (see
 * enqueueEvent). `join` adds a relation of the statement to the rows' FROM (one row per event when it has one row),
 * and `envelope` rewrites each envelope from it (say, to set a value in `data` that the statement computed).
 */
export function outboxInsert(
  schemaName: string,
  events: CloudEvent[],
  onlyIf: SQL,
  options: { join?: SQL; envelope?: (envelope: SQL) => SQL } = {},
): SQL {
  // The relay publishes in created_at order: the events of one statement keep theirs, a microsecond apart.
  const rows = sql.join(
    events.map(
      (event, n) =>
        sql`(${event.id}::uuid, ${topicOf(eventNameOf(event.type) as EventName)}::text, ${event.type}::text, ${event.subject}::text, ${JSON.stringify(event)}::jsonb, now() + ${`${n} microseconds`}::interval)`,
    ),
    sql`, `,
  );
  const envelope = options.envelope ? options.envelope(sql`event.envelope`) : sql`event.envelope`;
  return sql`
    insert into ${sql.identifier(schemaName)}.outbox (id, topic, type, subject, envelope, created_at)
    select event.id, event.topic, event.type, event.subject, ${envelope}, event.created_at
    from (values ${rows}) as event(id, topic, type, subject, envelope, created_at)${options.join ? sql`, ${options.join}` : sql``}
    where ${onlyIf}
    returning id`;
}

interface OutboxRow {
  id: string;
  topic: TopicName;
  envelope: CloudEvent;
}

export const OUTBOX_DEFAULTS = {
  maxAttempts: 10,
  retryBaseMs: 1_000,
  retryMaxMs: 300_000,
  // The queues and DLQs keep a message up to 14 days: a dead letter redriven after the retention is not recognised
  // by processed_events (the saga row and the order id still guard payments and orders). 15 days closes that gap.
  retentionMs: 7 * 24 * 3600 * 1000,
  maintenanceIntervalMs: 60_000,
};

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
  /** makes a new (unconnected) node-postgres client for LISTEN: the relay connects it at start, and makes another when
   * its connection is lost; without it the relay polls */
  listen?: () => pg.Client;
  /** refusals before a row is dead (default 10: about 13 minutes of backoff) */
  maxAttempts?: number;
  /** a refused row's next attempt: retryBaseMs × 2^(attempts-1), at most retryMaxMs, ±20 % */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** published rows, and the schema's processed_events when `processedEvents` is set, are deleted after this */
  retentionMs?: number;
  processedEvents?: boolean;
  /** how often the relay prunes and reports its dead rows */
  maintenanceIntervalMs?: number;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export interface OutboxMaintenance {
  prunedEvents: number;
  prunedProcessedEvents: number;
  deadEvents: number;
}

const PRUNE_BATCH = 5_000;

export class OutboxRelay {
  /** counts since the task started: published, not published for an outage, refused (charged), gone dead */
  readonly stats = { published: 0, failures: 0, refused: 0, dead: 0, batches: 0, pruned: 0 };
  private readonly options: OutboxRelayOptions;
  private readonly table: SQL;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** a NOTIFY came while no one was waiting (a batch was being published): look again before sleeping */
  private notified = false;
  private backoffMs = 0;
  private nextMaintenanceAt = 0;
  /** the connected LISTEN client; undefined while there is none (the relay polls) */
  private listener: pg.Client | undefined;

  constructor(options: OutboxRelayOptions) {
    const topics = (Object.keys(TOPOLOGY.topics) as TopicName[]).filter((topic) => options.owner === undefined || TOPOLOGY.topics[topic].publisher === options.owner);
    if (topics.length === 0) throw new MessagingConfigError(`outbox relay: no topic in the topology is published by ${options.owner}`);
    const missing = topics.filter((topic) => !options.topicArns[topic]);
    if (missing.length > 0) throw new MessagingConfigError(`outbox relay${options.owner ? ` of ${options.owner}` : ''}: no ARN for ${missing.join(', ')}`);
    this.options = options;
    this.table = sql`${sql.identifier(options.schema)}.outbox`;
  }

  /** Claims one batch of due rows, publishes it, marks what was published and charges what was refused. Returns how
   * many were published; throws (after marking the rest) when an outage kept some from being published. */
  async runOnce(): Promise<number> {
    const { db, batchSize = 100 } = this.options;
    const failures: PublishFailure[] = [];
    const published = await inTransaction(db, async (tx) => {
      // prepared (both statements have one shape): a relay runs them for every batch
      const result = await executePrepared(tx, sql`
        select id, topic, envelope from ${this.table}
        where published_at is null and dead_at is null and next_attempt_at <= now()
        order by created_at, id limit ${batchSize} for update skip locked`);
      const rows = rowsOf<OutboxRow>(result).map((r) => ({
        ...r,
        // node-postgres parses jsonb; PGlite too, but be sure
        envelope: typeof r.envelope === 'string' ? (JSON.parse(r.envelope) as CloudEvent) : r.envelope,
      }));
      if (rows.length === 0) return [];
      for (const [topic, events] of groupByTopic(rows)) {
        const arn = this.options.topicArns[topic];
        if (!arn) {
          // a row for a topic this relay does not publish: charged, so it cannot hold the others up for ever
          failures.push(...events.map((e): PublishFailure => ({ id: e.id, kind: 'rejected', reason: `this relay has no ARN for topic ${topic}` })));
          continue;
        }
        try {
          await this.options.publisher.publish(arn, events);
        } catch (error) {
          if (!(error instanceof PublishError)) throw error;
          failures.push(...error.failures);
        }
      }
      const failed = new Set(failures.map((f) => f.id));
      const done = rows.map((r) => r.id).filter((id) => !failed.has(id));
      if (done.length > 0) {
        // one array parameter (a Postgres array literal of the uuids), so any number of ids is one statement's shape
        await executePrepared(tx, sql`update ${this.table} set published_at = now() where id = any(${`{${done.join(',')}}`}::uuid[])`);
      }
      await this.recordFailures(tx, failures);
      return done;
    });
    if (published.length > 0) this.stats.batches++;
    this.stats.published += published.length;
    const outage = failures.filter((f) => f.kind === 'transient');
    this.stats.failures += outage.length;
    if (outage.length > 0) throw new PublishError(`${outage.length} outbox events were not published: ${outage[0]!.reason}`, outage);
    return published.length;
  }

  /** Charges refused rows an attempt (dead after the last, or at once when too large); notes an outage's error. */
  private async recordFailures(tx: Db, failures: PublishFailure[]): Promise<void> {
    if (failures.length === 0) return;
    const { maxAttempts = OUTBOX_DEFAULTS.maxAttempts, retryBaseMs = OUTBOX_DEFAULTS.retryBaseMs, retryMaxMs = OUTBOX_DEFAULTS.retryMaxMs } = this.options;
    const outage = failures.filter((f) => f.kind === 'transient');
    if (outage.length > 0) {
      const values = sql.join(outage.map((f) => sql`(${f.id}::uuid, ${f.reason.slice(0, 1000)}::text)`), sql`, `);
      await tx.execute(sql`update ${this.table} t set last_error = f.reason from (values ${values}) as f(id, reason) where t.id = f.id`);
    }
    const refused = failures.filter((f) => f.kind !== 'transient');
    if (refused.length === 0) return;
    const values = sql.join(refused.map((f) => sql`(${f.id}::uuid, ${f.reason.slice(0, 1000)}::text, ${f.kind === 'too-large'}::boolean)`), sql`, `);
    const result = await tx.execute(sql`
      update ${this.table} t set
        attempts = t.attempts + 1,
        last_error = f.reason,
        dead_at = case when f.final or t.attempts + 1 >= ${maxAttempts} then now() end,
        next_attempt_at = now() + make_interval(secs => least(${retryBaseMs}::float8 * power(2, t.attempts), ${retryMaxMs}::float8) * (0.8 + random() * 0.4) / 1000)
      from (values ${values}) as f(id, reason, final)
      where t.id = f.id
      returning t.id, t.type, t.subject, t.attempts, t.last_error, t.dead_at is not null as dead`);
    const rows = rowsOf<{ id: string; type: string; subject: string; attempts: number; last_error: string; dead: boolean }>(result);
    for (const row of rows) {
      const detail = { schema: this.options.schema, outboxEventId: row.id, type: row.type, subject: row.subject, attempts: row.attempts, lastError: row.last_error };
      if (row.dead) {
        this.stats.dead++;
        this.options.log?.error(detail, `outbox: event is dead; it waits for an operator: pnpm ops outbox show ${this.options.schema}`);
      } else {
        this.stats.refused++;
        this.options.log?.warn(detail, 'outbox: SNS refused the event; it is tried again later, the others go on');
      }
    }
  }

  /** Deletes published rows (and processed event ids) older than the retention, a batch at a time, and counts the
   * dead rows, logging them as `outboxDeadEvents` while there are any. */
  async maintain(): Promise<OutboxMaintenance> {
    const { db, schema, retentionMs = OUTBOX_DEFAULTS.retentionMs } = this.options;
    const before = sql`now() - make_interval(secs => ${retentionMs / 1000}::float8)`;
    const prune = async (table: SQL, key: string, column: string): Promise<number> => {
      let total = 0;
      for (;;) {
        const result = await db.execute(sql`
          delete from ${table} where ${sql.identifier(key)} in (
            select ${sql.identifier(key)} from ${table} where ${sql.identifier(column)} < ${before} limit ${PRUNE_BATCH} for update skip locked)`);
        const deleted = affectedRows(result);
        total += deleted;
        if (deleted < PRUNE_BATCH) return total;
      }
    };
    const prunedEvents = await prune(this.table, 'id', 'published_at');
    const prunedProcessedEvents = this.options.processedEvents
      ? await prune(sql`${sql.identifier(schema)}.processed_events`, 'event_id', 'processed_at')
      : 0;
    this.stats.pruned += prunedEvents;
    const deadEvents = await this.countDead();
    if (prunedEvents + prunedProcessedEvents > 0) this.options.log?.info({ schema, prunedEvents, prunedProcessedEvents }, 'outbox: pruned past the retention');
    if (deadEvents > 0) this.options.log?.warn({ schema, outboxDeadEvents: deadEvents }, `outbox: dead events wait for an operator: pnpm ops outbox show ${schema}`);
    return { prunedEvents, prunedProcessedEvents, deadEvents };
  }

  async countDead(): Promise<number> {
    const result = await this.options.db.execute(sql`select count(*)::int as n from ${this.table} where dead_at is not null`);
    return rowsOf<{ n: number }>(result)[0]?.n ?? 0;
  }

  /** Publishes what is due now instead of at the next poll (a writer of this process committed rows). */
  wakeUp(): void {
    this.notified = true;
    this.wake?.();
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    localRelays.set(this.options.schema, (localRelays.get(this.options.schema) ?? new Set()).add(this));
    if (this.options.listen) await this.connectListener();
    this.loop = this.run();
  }

  /** Finishes the batch in flight, then stops and closes the LISTEN connection. */
  async stop(): Promise<void> {
    this.running = false;
    localRelays.get(this.options.schema)?.delete(this);
    this.wake?.();
    await this.loop;
    await this.closeListener();
  }

  private async connectListener(): Promise<void> {
    const client = this.options.listen!();
    client.on('notification', () => {
      this.notified = true;
      this.wake?.();
    });
    client.on('error', (error) => this.listenerLost(client, error));
    client.on('end', () => this.listenerLost(client));
    try {
      await client.connect();
      await client.query(`listen ${quoteIdent(notifyChannel(this.options.schema))}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    this.listener = client;
  }

  private async closeListener(): Promise<void> {
    const client = this.listener;
    this.listener = undefined;
    await client?.end().catch(() => undefined);
  }

  /** The LISTEN connection is gone: poll meanwhile, and connect a new one. */
  private listenerLost(client: pg.Client, error?: Error): void {
    if (this.listener !== client) return; // lost before it listened (start reports it), or already handled
    this.listener = undefined;
    void client.end().catch(() => undefined);
    if (!this.running) return;
    this.options.log?.warn({ err: error, schema: this.options.schema }, 'outbox: LISTEN connection lost; polling until a new one listens');
    void this.relisten();
  }

  /** Tries to LISTEN again, backing off from 500 ms to 5 s, until it does or the relay stops. */
  private async relisten(): Promise<void> {
    for (let delayMs = 500; this.running; delayMs = Math.min(delayMs * 2, 5_000)) {
      // unref'd: a relay that was stopped meanwhile must not hold the process open
      await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
      if (!this.running) return;
      try {
        await this.connectListener();
      } catch (error) {
        this.options.log?.warn({ err: error, schema: this.options.schema, retryInMs: Math.min(delayMs * 2, 5_000) }, 'outbox: cannot LISTEN yet');
        continue;
      }
      if (!this.running) return this.closeListener();
      this.options.log?.info({ schema: this.options.schema }, 'outbox: listening again');
      // rows committed while no one listened go now
      this.notified = true;
      this.wake?.();
      return;
    }
  }

  private async run(): Promise<void> {
    const { batchSize = 100, intervalMs = 500, maintenanceIntervalMs = OUTBOX_DEFAULTS.maintenanceIntervalMs } = this.options;
    while (this.running) {
      if (Date.now() >= this.nextMaintenanceAt) {
        this.nextMaintenanceAt = Date.now() + maintenanceIntervalMs;
        await this.maintain().catch((error: unknown) => this.options.log?.warn({ err: error }, 'outbox: pruning failed; tried again later'));
      }
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

/** The relay's counts as the `outbox_events{outcome}` gauge of a worker's registry (counts since the task started),
 * and its schema's dead rows, counted in the database at each scrape, as `outbox_dead_events`. */
export function registerOutboxMetrics(registry: Registry, relay: OutboxRelay): void {
  new Gauge({
    name: 'outbox_events',
    help: 'Outbox events relayed by this task, by outcome: published, failed (an outage: tried again), refused (charged an attempt), dead',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.set({ outcome: 'published' }, relay.stats.published);
      this.set({ outcome: 'failed' }, relay.stats.failures);
      this.set({ outcome: 'refused' }, relay.stats.refused);
      this.set({ outcome: 'dead' }, relay.stats.dead);
    },
  });
  new Gauge({
    name: 'outbox_dead_events',
    help: 'Outbox rows that are dead and wait for an operator (pnpm ops outbox show): alert when above 0',
    registers: [registry],
    async collect() {
      this.set(await relay.countDead().catch(() => Number.NaN));
    },
  });
}

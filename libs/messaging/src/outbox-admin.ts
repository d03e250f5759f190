/**
 * The operator's view of the outboxes (outbox.ts): how many events wait in each service's outbox, which ones SNS
 * refused and why, and putting dead ones back in line once the cause is fixed. Used by `pnpm ops outbox`.
 *
 * A retry clears the row's attempts, error and death and makes it due now, then wakes the relays (NOTIFY): the
 * event is published by the running relay like any new one, with its original id, so a consumer that did see it
 * before (it cannot have, unless SNS took it and the relay died before marking it) drops the copy.
 */
import { sql } from 'drizzle-orm';
import { rowsOf, type Db } from '@securecart/db';
import { notifyChannel } from './outbox.ts';

export interface OutboxStatus {
  schema: string;
  /** not published and not dead: due now or backing off */
  waiting: number;
  /** of those, refused at least once and backing off */
  backingOff: number;
  dead: number;
  /** age of the oldest waiting row, or null when none waits */
  oldestWaitingSeconds: number | null;
  /** published rows still kept (deleted after the retention) */
  published: number;
}

export interface OutboxEntry {
  id: string;
  type: string;
  subject: string;
  createdAt: string;
  attempts: number;
  lastError: string | null;
  nextAttemptAt: string;
  deadAt: string | null;
}

const table = (schema: string) => sql`${sql.identifier(schema)}.outbox`;

/** The schema has an outbox table (false before the service's first migration). */
export async function hasOutbox(db: Db, schema: string): Promise<boolean> {
  const [row] = rowsOf<{ found: boolean }>(await db.execute(sql`select to_regclass(format('%I.outbox', ${schema}::text)) is not null as found`));
  return row?.found ?? false;
}

export async function outboxStatus(db: Db, schema: string): Promise<OutboxStatus> {
  const [row] = rowsOf<Omit<OutboxStatus, 'schema'>>(await db.execute(sql`
    select
      count(*) filter (where published_at is null and dead_at is null)::int as "waiting",
      count(*) filter (where published_at is null and dead_at is null and attempts > 0)::int as "backingOff",
      count(*) filter (where dead_at is not null)::int as "dead",
      floor(extract(epoch from now() - min(created_at) filter (where published_at is null and dead_at is null)))::int as "oldestWaitingSeconds",
      count(*) filter (where published_at is not null)::int as "published"
    from ${table(schema)}`));
  return { schema, ...row! };
}

/** The rows that need a look: dead ones first, then those SNS refused and that back off; oldest first. */
export async function peekOutbox(db: Db, schema: string, options: { limit: number }): Promise<OutboxEntry[]> {
  return rowsOf<OutboxEntry>(await db.execute(sql`
    select id, type, subject, created_at as "createdAt", attempts, last_error as "lastError",
      next_attempt_at as "nextAttemptAt", dead_at as "deadAt"
    from ${table(schema)}
    where published_at is null and (dead_at is not null or attempts > 0)
    order by dead_at is null, created_at, id
    limit ${options.limit}`)).map((r) => ({
    ...r,
    createdAt: iso(r.createdAt),
    nextAttemptAt: iso(r.nextAttemptAt),
    deadAt: r.deadAt === null ? null : iso(r.deadAt),
  }));
}

/** Puts dead rows (all of the schema's, or those with the given ids) back in line; returns the ids retried. */
export async function retryDeadEvents(db: Db, schema: string, options: { ids?: string[] } = {}): Promise<string[]> {
  const only = options.ids?.length ? sql`and id in (${sql.join(options.ids.map((id) => sql`${id}::uuid`), sql`, `)})` : sql``;
  const rows = rowsOf<{ id: string }>(await db.execute(sql`
    update ${table(schema)} set dead_at = null, attempts = 0, last_error = null, next_attempt_at = now()
    where dead_at is not null and published_at is null ${only}
    returning id`));
  if (rows.length > 0) await db.execute(sql`select pg_notify(${notifyChannel(schema)}, '')`);
  return rows.map((r) => r.id);
}

function iso(value: unknown): string {
  return value instanceof Date ? value.toISOString() : new Date(String(value)).toISOString();
}

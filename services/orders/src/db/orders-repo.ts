/**
 * Queries of the orders schema. Reads take whichever database the replica router hands them; writes take the
 * caller's transaction. Nothing here knows about HTTP, queues or the state machine's rules.
 */
import { and, asc, desc, eq, gt, sql, type SQL } from 'drizzle-orm';
import { executePrepared, preparedRowsOf, rowOf, rowsOf, setOf, type Db } from '@securecart/db';
import { notifyChannel, outboxInsert, topicOf, type CloudEvent } from '@securecart/messaging';
import type { OrderStatus } from '../domain/order-status.ts';
import type { ListPosition, OrderWithHistory, StatusChange } from '../domain/order-view.ts';
import { ORDERS_SCHEMA, orderTable, processedEvents, statusHistory, type HistoryRow, type NewOrderRow, type OrderRow } from './schema.ts';

/**
 * Appends a history row. Callers hold the order's row lock (they have just inserted or updated the order in the
 * same transaction), so one order's history ids are drawn in commit order: the live stream relies on that when it
 * reads "rows after the last id sent".
 */
export async function appendHistory(tx: Db, orderId: string, status: OrderStatus, reason: string | null): Promise<HistoryRow> {
  const [row] = await tx.insert(statusHistory).values({ orderId, status, reason }).returning();
  return row!;
}

export async function findOrder(db: Db, id: string): Promise<OrderRow | undefined> {
  // prepared, and an sql template rather than the query builder: the orders-worker reads an order for every fact
  const [row] = await preparedRowsOf(db, orderTable, sql`select * from ${orderTable} where ${orderTable.id} = ${id}`);
  return row;
}

/** One order's history rows after `afterId`, oldest first. */
export async function historyAfter(db: Db, orderId: string, afterId: number, limit: number): Promise<HistoryRow[]> {
  return db
    .select()
    .from(statusHistory)
    .where(and(eq(statusHistory.orderId, orderId), gt(statusHistory.id, afterId)))
    .orderBy(asc(statusHistory.id))
    .limit(limit);
}

export interface StreamStart {
  customerId: string;
  status: OrderStatus;
  /** the id of the order's newest history row (the current status) */
  latestHistoryId: number;
}

/** Who owns the order, its status and its newest history row, from one snapshot. */
export async function findStreamStart(db: Db, orderId: string): Promise<StreamStart | undefined> {
  const latest = sql<string>`(select max(h.id) from ${statusHistory} h where h.order_id = ${orderId})`;
  const [row] = await db
    .select({ customerId: orderTable.customerId, status: orderTable.status, latest })
    .from(orderTable)
    .where(eq(orderTable.id, orderId));
  return row ? { customerId: row.customerId, status: row.status, latestHistoryId: Number(row.latest) } : undefined;
}

interface HistoryJson {
  status: OrderStatus;
  reason: string | null;
  at: string;
}

/** The order and its history in one statement, so both come from the same snapshot (of the replica, say). */
export async function findOrderWithHistory(db: Db, id: string): Promise<OrderWithHistory | undefined> {
  const history = sql<HistoryJson[]>`coalesce((
    select json_agg(json_build_object('status', h.status, 'reason', h.reason, 'at', h.at) order by h.id)
    from ${statusHistory} h where h.order_id = ${id}), '[]'::json)`;
  const [row] = await db.select({ order: orderTable, history }).from(orderTable).where(eq(orderTable.id, id));
  if (!row) return undefined;
  const changes: StatusChange[] = row.history.map((h) => ({ status: h.status, reason: h.reason, at: new Date(h.at) }));
  return { order: row.order, history: changes };
}

export interface ListFilter {
  customerId?: string | undefined;
  status?: OrderStatus | undefined;
  limit: number;
  after?: ListPosition | undefined;
}

/** Newest first. Returns one row more than asked, so the caller knows whether there is a next page. */
export async function listOrders(db: Db, filter: ListFilter): Promise<OrderRow[]> {
  const conditions: SQL[] = [];
  if (filter.customerId !== undefined) conditions.push(eq(orderTable.customerId, filter.customerId));
  if (filter.status !== undefined) conditions.push(eq(orderTable.status, filter.status));
  if (filter.after) {
    conditions.push(
      sql`(${orderTable.createdAt}, ${orderTable.id}) < (${filter.after.createdAt.toISOString()}::timestamptz, ${filter.after.id}::uuid)`,
    );
  }
  return db
    .select()
    .from(orderTable)
    .where(and(...conditions))
    .orderBy(desc(orderTable.createdAt), desc(orderTable.id))
    .limit(filter.limit + 1);
}

export interface StatusUpdate {
  id: string;
  /** the version the caller read; the update applies only if nobody has changed the order since */
  expectedVersion: number;
  to: OrderStatus;
  reason: string | null;
}

/** What a status change sets, whichever way it is written. */
const statusChange = (update: StatusUpdate) =>
  ({ status: update.to, reason: update.reason, version: sql`${orderTable.version} + 1`, updatedAt: sql`now()` }) as const;

/** Optimistic concurrency: undefined when the order moved on since the caller read it. */
export async function updateStatus(tx: Db, update: StatusUpdate): Promise<OrderRow | undefined> {
  const [row] = await tx
    .update(orderTable)
    .set(statusChange(update))
    .where(and(eq(orderTable.id, update.id), eq(orderTable.version, update.expectedVersion)))
    .returning();
  return row;
}

/**
 * A fulfillment fact's status change as one statement (one round trip, no transaction held open): the update, its
 * history row, its event in the outbox and the fact's id in processed_events. Everything or nothing: it applies only
 * while the order is at the version read and the fact has not been processed, and returns the history row; undefined
 * means another writer got there first (read the order again and decide again). The update locks the order's row
 * before the history row is appended, so history ids stay in commit order.
 */
export async function updateStatusForFact(db: Db, update: StatusUpdate, event: CloudEvent, fact: { id: string; type: string }): Promise<HistoryRow | undefined> {
  const result = await executePrepared(db, sql`
    with changed as (
      update ${orderTable} set ${setOf(orderTable, statusChange(update))}
      where ${orderTable.id} = ${update.id} and ${orderTable.version} = ${update.expectedVersion}
        and not exists (select 1 from ${processedEvents} where ${processedEvents.eventId} = ${fact.id})
      returning *
    ),
    history as (
      insert into ${statusHistory} (order_id, status, reason) select id, status, reason from changed returning *
    ),
    recorded as (
      insert into ${processedEvents} (event_id, type) select ${fact.id}, ${fact.type} where exists (select 1 from changed)
    ),
    queued as (${outboxInsert(ORDERS_SCHEMA, [event], sql`exists (select 1 from changed)`)})
    select * from history`);
  // (a data-modifying CTE runs to completion whether or not the query reads it)
  const [row] = rowsOf<Record<string, unknown>>(result);
  return row ? rowOf(statusHistory, row) : undefined;
}

export type IntakeResult = { outcome: 'placed'; history: HistoryRow } | { outcome: 'redelivered' | 'duplicate-order' };

export interface Submission {
  eventId: string;
  eventType: string;
  order: Omit<NewOrderRow, 'status'>;
  /** the `order.placed` to write to the outbox if this submission places the order */
  placedEvent: CloudEvent;
}

/**
 * Intake's writes for any number of submissions as ONE statement (one round trip, one commit, atomic without
 * BEGIN/COMMIT): record each event as processed, insert each PLACED order unless its id is taken, its first history
 * row and its `order.placed` outbox row, and wake the relay once. Each insert depends on the one before through the
 * CTEs, so a redelivered event inserts nothing and a duplicate submission inserts only its processed_events row; two
 * submissions of one order in the same call place it once. Rows are inserted in key order, so concurrent calls
 * wait for each other rather than deadlock. Returns one result per submission, in the order given.
 * Round trips and commits per order were most of the intake's cost (docs/performance.md).
 */
export async function placeSubmittedOrders(db: Db, submissions: Submission[]): Promise<IntakeResult[]> {
  if (submissions.length === 0) return [];
  const input = submissions.map((s, n) => ({
    n,
    event_id: s.eventId,
    event_type: s.eventType,
    id: s.order.id,
    customer_id: s.order.customerId,
    lines: s.order.lines,
    total_cents: s.order.totalCents,
    currency: s.order.currency,
    shipping_address: s.order.shippingAddress,
    contact: s.order.contact,
    outbox_id: s.placedEvent.id,
    outbox_type: s.placedEvent.type,
    envelope: s.placedEvent,
  }));
  const result = await executePrepared(db, sql`
    with input as (
      select * from jsonb_to_recordset(${JSON.stringify(input)}::jsonb) as i(
        n integer, event_id uuid, event_type text, id uuid, customer_id text, lines jsonb, total_cents integer, currency text,
        shipping_address jsonb, contact jsonb, outbox_id uuid, outbox_type text, envelope jsonb)
    ), processed as (
      insert into orders.processed_events (event_id, type)
      select event_id, event_type from input order by event_id
      on conflict (event_id) do nothing
      returning event_id
    ), fresh as (
      -- the first delivery of each event just recorded (a later one in the same batch is a redelivery)
      select distinct on (i.event_id) i.* from input i join processed p on p.event_id = i.event_id order by i.event_id, i.n
    ), chosen as (
      -- the first fresh submission of each order id
      select distinct on (id) * from fresh order by id, n
    ), placed as (
      insert into orders.orders (id, customer_id, status, lines, total_cents, currency, shipping_address, contact)
      select id, customer_id, 'PLACED', lines, total_cents, currency, shipping_address, contact from chosen order by id
      on conflict (id) do nothing
      returning id
    ), history as (
      insert into orders.status_history (order_id, status, reason)
      select id, 'PLACED', null from placed order by id
      returning id, order_id, status, reason, at
    ), outboxed as (
      insert into orders.outbox (id, topic, type, subject, envelope)
      select c.outbox_id, ${topicOf('order.placed')}, c.outbox_type, c.id::text, c.envelope from chosen c join placed p on p.id = c.id
      returning id
    ), notified as (
      select pg_notify(${notifyChannel(ORDERS_SCHEMA)}, '') from (select 1) one where exists (select 1 from outboxed)
    )
    select i.n, exists (select 1 from fresh f where f.n = i.n) as processed,
           h.id as history_id, h.order_id, h.status, h.reason, h.at,
           (select count(*) from notified)::int as notified
    from input i
    left join chosen c on c.n = i.n
    left join history h on h.order_id = c.id
    order by i.n`);
  const rows = (result as unknown as { rows: Record<string, unknown>[] }).rows;
  return rows.map((row): IntakeResult => {
    if (!row.processed) return { outcome: 'redelivered' };
    if (row.history_id == null) return { outcome: 'duplicate-order' };
    return {
      outcome: 'placed',
      history: {
        id: Number(row.history_id),
        orderId: String(row.order_id),
        status: row.status as HistoryRow['status'],
        reason: (row.reason as string | null) ?? null,
        at: row.at instanceof Date ? row.at : new Date(String(row.at)),
      },
    };
  });
}

/**
 * Queries of the orders schema. Reads take whichever database the replica router hands them; writes take the
 * caller's transaction. Nothing here knows about HTTP, queues or the state machine's rules.
 */
import { and, asc, desc, eq, gt, sql, type SQL } from 'drizzle-orm';
import type { Db } from '@securecart/db';
import type { OrderStatus } from '../domain/order-status.ts';
import type { ListPosition, OrderWithHistory, StatusChange } from '../domain/order-view.ts';
import { orderTable, statusHistory, type HistoryRow, type NewOrderRow, type OrderRow } from './schema.ts';

/** Inserts a PLACED order unless one with this id exists; undefined means it did (a duplicate submission). */
export async function insertPlacedOrder(tx: Db, order: Omit<NewOrderRow, 'status'>): Promise<OrderRow | undefined> {
  const [row] = await tx
    .insert(orderTable)
    .values({ ...order, status: 'PLACED' })
    .onConflictDoNothing({ target: orderTable.id })
    .returning();
  return row;
}

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
  const [row] = await db.select().from(orderTable).where(eq(orderTable.id, id));
  return row;
}

/** The order, locked until the caller's transaction ends: a concurrent transition waits rather than races. */
export async function findOrderForUpdate(tx: Db, id: string): Promise<OrderRow | undefined> {
  const [row] = await tx.select().from(orderTable).where(eq(orderTable.id, id)).for('update');
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

/** Optimistic concurrency: undefined when the order moved on since the caller read it. */
export async function updateStatus(tx: Db, update: StatusUpdate): Promise<OrderRow | undefined> {
  const [row] = await tx
    .update(orderTable)
    .set({ status: update.to, reason: update.reason, version: sql`${orderTable.version} + 1`, updatedAt: sql`now()` })
    .where(and(eq(orderTable.id, update.id), eq(orderTable.version, update.expectedVersion)))
    .returning();
  return row;
}

/**
 * Queries of the orders schema. Reads take whichever database the replica router hands them; writes take the
 * caller's transaction. Nothing here knows about HTTP, queues or the state machine's rules.
 */
import { and, desc, eq, sql, type SQL } from 'drizzle-orm';
import type { Db } from '@securecart/db';
import type { OrderStatus } from '../domain/order-status.ts';
import type { ListPosition, OrderWithHistory, StatusChange } from '../domain/order-view.ts';
import { orderTable, statusHistory, type NewOrderRow, type OrderRow } from './schema.ts';

/** Inserts a PLACED order unless one with this id exists; undefined means it did (a duplicate submission). */
export async function insertPlacedOrder(tx: Db, order: Omit<NewOrderRow, 'status'>): Promise<OrderRow | undefined> {
  const [row] = await tx
    .insert(orderTable)
    .values({ ...order, status: 'PLACED' })
    .onConflictDoNothing({ target: orderTable.id })
    .returning();
  return row;
}

export async function appendHistory(tx: Db, orderId: string, status: OrderStatus, reason: string | null): Promise<void> {
  await tx.insert(statusHistory).values({ orderId, status, reason });
}

export async function findOrder(db: Db, id: string): Promise<OrderRow | undefined> {
  const [row] = await db.select().from(orderTable).where(eq(orderTable.id, id));
  return row;
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

/**
 * Stock reservations (docs/architecture.md): all lines of an order or none, idempotent per order id, never negative.
 *
 * Each line is one conditional update, `stock = stock - q WHERE stock >= q`, inside one transaction: Postgres
 * re-checks the condition against the latest row after waiting for a concurrent writer, so two buyers of the last
 * unit cannot both succeed, and a line that fails rolls back the lines before it. Lines are taken in product id
 * order so two orders sharing products never deadlock. Every change of stock writes `stock.changed` to the
 * outbox in the same transaction.
 */
import { asc, eq, inArray, sql } from 'drizzle-orm';
import { executePrepared, inTransaction, preparedRowsOf, rowsOf, uniqueViolationOf, type Db } from '@securecart/db';
import { createEvent, enqueueEvent, outboxInsert, wakeOutboxRelays } from '@securecart/messaging';
import { CATALOG_SCHEMA, products, reservations, type ReservationRow } from './schema.ts';

export interface ReservationLine {
  productId: string;
  quantity: number;
}

export type ReservationOutcome = { reservation: ReservationRow; changedProductIds: string[] };

/** A line cannot be reserved: the product is unknown, archived, or short of stock. Nothing was taken. */
export class StockUnavailable extends Error {
  override name = 'StockUnavailable';
  readonly productId: string;
  readonly reason: 'unknown-product' | 'archived' | 'insufficient-stock';

  constructor(productId: string, reason: StockUnavailable['reason'], detail: string) {
    super(detail);
    this.productId = productId;
    this.reason = reason;
  }
}

/** The reservation is in a state that refuses the request (commit after release, release after commit). */
export class ReservationConflict extends Error {
  override name = 'ReservationConflict';
}

/** Same product twice in one order: one line with the summed quantity. Sorted by product id (lock order). */
export function mergeLines(lines: ReservationLine[]): ReservationLine[] {
  const byProduct = new Map<string, number>();
  for (const line of lines) {
    const id = line.productId.toLowerCase();
    byProduct.set(id, (byProduct.get(id) ?? 0) + line.quantity);
  }
  return [...byProduct.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([productId, quantity]) => ({ productId, quantity }));
}

async function stockChanged(tx: Db, productId: string, stock: number, reason: string, orderId: string): Promise<void> {
  await enqueueEvent(
    tx,
    CATALOG_SCHEMA,
    createEvent({ name: 'stock.changed', source: 'catalog', subject: productId, correlationId: orderId, data: { productId, stock, reason } }),
  );
}

export async function findReservation(db: Db, orderId: string): Promise<ReservationRow | undefined> {
  const [row] = await db.select().from(reservations).where(eq(reservations.orderId, orderId));
  return row;
}

/**
 * Takes the stock of every line, or throws StockUnavailable and takes nothing. A second call for the same order
 * returns the reservation as it is (RESERVED, or RELEASED/COMMITTED if it has moved on) and changes nothing.
 */
export async function reserveStock(primary: Db, orderId: string, requested: ReservationLine[]): Promise<ReservationOutcome> {
  const lines = mergeLines(requested);
  if (lines.length === 1) return reserveOneLine(primary, orderId, lines[0]!);
  return inTransaction(primary, async (tx) => {
    const [created] = await tx.insert(reservations).values({ orderId, status: 'RESERVED', lines }).onConflictDoNothing().returning();
    if (!created) return { reservation: (await findReservation(tx, orderId))!, changedProductIds: [] };
    for (const line of lines) {
      const [taken] = await tx
        .update(products)
        .set({ stock: sql`${products.stock} - ${line.quantity}`, updatedAt: sql`now()` })
        .where(sql`${products.id} = ${line.productId} and ${products.status} = 'active' and ${products.stock} >= ${line.quantity}`)
        .returning({ stock: products.stock });
      if (!taken) throw await whyUnavailable(tx, line);
      await stockChanged(tx, line.productId, taken.stock, 'reserved', orderId);
    }
    return { reservation: created, changedProductIds: lines.map((l) => l.productId) };
  });
}

/**
 * An order of one product, the usual case, in one statement: no round trip to the client while the product's row is
 * locked. In a flash sale every buyer's reservation updates the same row; held across the transaction's further
 * round trips from a busy process, that lock made the reservations a queue (55 ms of waiting each in
 * bench:pipeline's spike). The statement takes the stock only if the order has no reservation yet, creates the
 * reservation from what it took, and writes `stock.changed` with the new stock to the outbox; if a concurrent call for
 * the same order committed its reservation meanwhile, the insert's unique violation undoes the whole statement and the
 * existing reservation is returned, as for any repeated call. It sends no NOTIFY (see enqueueEvent): the catalog's
 * own relay is woken in-process.
 */
async function reserveOneLine(primary: Db, orderId: string, line: ReservationLine): Promise<ReservationOutcome> {
  const event = createEvent({
    name: 'stock.changed',
    source: 'catalog',
    subject: line.productId,
    correlationId: orderId,
    data: { productId: line.productId, stock: 0, reason: 'reserved' }, // the stock is set from the row below
  });
  let result;
  try {
    result = await executePrepared(primary, sql`
      with existing as (select 1 from ${reservations} where ${reservations.orderId} = ${orderId}),
      taken as (
        update ${products} set stock = ${products.stock} - ${line.quantity}, updated_at = now()
        where ${products.id} = ${line.productId} and ${products.status} = 'active' and ${products.stock} >= ${line.quantity}
          and not exists (select 1 from existing)
        returning ${products.stock} as stock),
      created as (
        insert into ${reservations} (order_id, status, lines)
        select ${orderId}::uuid, 'RESERVED', ${JSON.stringify([line])}::jsonb from taken
        returning created_at, updated_at),
      queued as (${outboxInsert(CATALOG_SCHEMA, [event], sql`true`, {
        join: sql`taken`,
        envelope: (envelope) => sql`jsonb_set(${envelope}, '{data,stock}', to_jsonb(taken.stock))`,
      })})
      select (select count(*) from existing)::int as existed, taken.stock, created.created_at, created.updated_at
      from (select 1) as one left join taken on true left join created on true`);
  } catch (error) {
    if (!uniqueViolationOf(error)) throw error;
    return { reservation: (await findReservation(primary, orderId))!, changedProductIds: [] };
  }
  const row = rowsOf<{ existed: number; stock: number | null; created_at: string | Date | null; updated_at: string | Date | null }>(result)[0]!;
  if (row.existed > 0) return { reservation: (await findReservation(primary, orderId))!, changedProductIds: [] };
  if (row.stock === null) throw await whyUnavailable(primary, line);
  // no NOTIFY in the statement: it would hold the product's row until Postgres's notification lock is free
  wakeOutboxRelays(CATALOG_SCHEMA);
  const at = (value: string | Date | null) => new Date(value!);
  return {
    reservation: { orderId, status: 'RESERVED', lines: [line], createdAt: at(row.created_at), updatedAt: at(row.updated_at) },
    changedProductIds: [line.productId],
  };
}

async function whyUnavailable(tx: Db, line: ReservationLine): Promise<StockUnavailable> {
  const [product] = await tx.select({ stock: products.stock, status: products.status, sku: products.sku }).from(products).where(eq(products.id, line.productId));
  if (!product) return new StockUnavailable(line.productId, 'unknown-product', `No product ${line.productId}`);
  if (product.status !== 'active') return new StockUnavailable(line.productId, 'archived', `Product ${product.sku} is no longer sold`);
  return new StockUnavailable(
    line.productId,
    'insufficient-stock',
    `Not enough stock of ${product.sku}: ${line.quantity} wanted, ${product.stock} left`,
  );
}

/**
 * Puts a RESERVED order's stock back. Releasing twice, or releasing an order that never reserved (a tombstone is
 * left so a reservation arriving late takes nothing), is fine; releasing a COMMITTED (shipped) one is refused.
 */
export async function releaseStock(primary: Db, orderId: string): Promise<ReservationOutcome> {
  return inTransaction(primary, async (tx) => {
    await tx.insert(reservations).values({ orderId, status: 'RELEASED', lines: [] }).onConflictDoNothing();
    const [current] = await tx.select().from(reservations).where(eq(reservations.orderId, orderId)).for('update');
    if (current!.status === 'COMMITTED') throw new ReservationConflict(`The stock of order ${orderId} has shipped; it cannot be released`);
    if (current!.status === 'RELEASED') return { reservation: current!, changedProductIds: [] };
    const lines = mergeLines(current!.lines);
    for (const line of lines) {
      const [back] = await tx
        .update(products)
        .set({ stock: sql`${products.stock} + ${line.quantity}`, updatedAt: sql`now()` })
        .where(eq(products.id, line.productId))
        .returning({ stock: products.stock });
      if (back) await stockChanged(tx, line.productId, back.stock, 'released', orderId);
    }
    const [released] = await tx
      .update(reservations)
      .set({ status: 'RELEASED', updatedAt: sql`now()` })
      .where(eq(reservations.orderId, orderId))
      .returning();
    return { reservation: released!, changedProductIds: lines.map((l) => l.productId) };
  });
}

/** Makes a reservation final when the order ships. Idempotent; refused for a released or unknown reservation. */
export async function commitReservation(primary: Db, orderId: string): Promise<ReservationRow> {
  // The usual case, a RESERVED reservation, is one statement; anything else is looked at under a lock.
  const [committed] = await preparedRowsOf(
    primary,
    reservations,
    sql`update ${reservations} set status = 'COMMITTED', updated_at = now()
        where ${reservations.orderId} = ${orderId} and ${reservations.status} = 'RESERVED' returning *`,
  );
  if (committed) return committed;
  return inTransaction(primary, async (tx) => {
    const [current] = await tx.select().from(reservations).where(eq(reservations.orderId, orderId)).for('update');
    if (!current) throw new ReservationConflict(`Order ${orderId} has no reservation to commit`);
    if (current.status === 'RELEASED') throw new ReservationConflict(`The reservation of order ${orderId} was released`);
    if (current.status === 'COMMITTED') return current;
    const [committed] = await tx
      .update(reservations)
      .set({ status: 'COMMITTED', updatedAt: sql`now()` })
      .where(eq(reservations.orderId, orderId))
      .returning();
    return committed!;
  });
}

/** Stock of some products, for tests and operators. */
export async function stockOf(db: Db, productIds: string[]): Promise<{ id: string; stock: number }[]> {
  return db.select({ id: products.id, stock: products.stock }).from(products).where(inArray(products.id, productIds)).orderBy(asc(products.id));
}

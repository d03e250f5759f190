/**
 * Persistence of the saga. A saga is run by whoever holds its lease (`lease_owner` until `lease_until`), so two
 * messages about one order (a redelivery, the order.cancelled beside the order.placed) never run it at once, and
 * a runner that crashed loses the lease when it runs out. No transaction is held across an outside call: every
 * write is one short statement (a save and its events together), conditional on still holding the lease.
 */
import { and, asc, eq, inArray, isNull, lt, or, sql } from 'drizzle-orm';
import type { EventPayload } from '@securecart/contracts';
import { executePrepared, preparedRowsOf, rowOf, rowsOf, rowValuesOf, setOf, type Db } from '@securecart/db';
import { outboxInsert, wakeOutboxRelays, type CloudEvent } from '@securecart/messaging';
import { FULFILLMENT_SCHEMA, sagas, type SagaRow } from './schema.ts';

/** Another runner holds the saga's lease: try again later (the message's visibility brings it back). */
export class SagaBusy extends Error {
  override name = 'SagaBusy';
}

/** The lease ran out while this runner was working and someone else may have taken over: stop here. */
export class LeaseLost extends Error {
  override name = 'LeaseLost';
}

export type SagaPatch = Partial<Omit<SagaRow, 'orderId' | 'customerId' | 'createdAt' | 'updatedAt' | 'leaseOwner' | 'leaseUntil'>>;

/**
 * Creates the saga of a placed order, its lease already held by `lease.owner`: the row comes back and the runner
 * starts at once (one statement instead of an insert and a lease). A saga that exists (a redelivery, or a tombstone
 * of a cancel) is kept and undefined comes back: the runner then takes the lease as usual (acquireLease).
 */
export async function startSaga(
  db: Db,
  placed: EventPayload<'order.placed'>,
  trace: { correlationId?: string; traceparent?: string },
  lease?: { owner: string; leaseMs: number },
): Promise<SagaRow | undefined> {
  const { orderId, customerId, paymentToken, ...order } = placed;
  // an sql template, not the query builder: this runs once per order (see setOf)
  const row = rowValuesOf(sagas, {
    orderId,
    customerId,
    status: 'RUNNING',
    step: 'fraud',
    order,
    paymentToken,
    correlationId: trace.correlationId ?? null,
    traceparent: trace.traceparent ?? null,
    ...(lease ? { leaseOwner: lease.owner, leaseUntil: sql`now() + ${`${lease.leaseMs} milliseconds`}::interval` } : {}),
  });
  const [created] = await preparedRowsOf(db, sagas, sql`insert into ${sagas} ${row} on conflict do nothing returning *`);
  return created;
}

/**
 * A cancellation for an order this service has not heard of (SQS reordered order.placed behind it): a CANCELLED
 * saga with nothing done, so the late order.placed finds it ended. Returns true when the tombstone was created,
 * inside the caller's transaction.
 */
export async function insertCancelledTombstone(tx: Db, orderId: string, customerId: string, correlationId?: string): Promise<boolean> {
  const created = await tx
    .insert(sagas)
    .values({ orderId, customerId, status: 'CANCELLED', step: 'fraud', endedAt: sql`now()`, correlationId: correlationId ?? null })
    .onConflictDoNothing()
    .returning({ orderId: sagas.orderId });
  return created.length === 1;
}

export async function findSaga(db: Db, orderId: string): Promise<SagaRow | undefined> {
  const [row] = await db.select().from(sagas).where(eq(sagas.orderId, orderId));
  return row;
}

/** Takes the lease, or throws SagaBusy; undefined when there is no such saga. */
export async function acquireLease(db: Db, orderId: string, owner: string, leaseMs: number): Promise<SagaRow | undefined> {
  const [row] = await db
    .update(sagas)
    .set({ leaseOwner: owner, leaseUntil: sql`now() + ${`${leaseMs} milliseconds`}::interval` })
    .where(and(eq(sagas.orderId, orderId), sql`(${sagas.leaseUntil} is null or ${sagas.leaseUntil} < now() or ${sagas.leaseOwner} = ${owner})`))
    .returning();
  if (row) return row;
  if (await findSaga(db, orderId)) throw new SagaBusy(`the saga of order ${orderId} is being run by another worker`);
  return undefined;
}

export async function releaseLease(db: Db, orderId: string, owner: string): Promise<void> {
  await db
    .update(sagas)
    .set({ leaseOwner: null, leaseUntil: null })
    .where(and(eq(sagas.orderId, orderId), eq(sagas.leaseOwner, owner)));
}

/**
 * Saves what a step did (and renews the lease, or with `release` gives it up: the saga's last save), with the step's
 * events written to the outbox by the same statement: one round trip, atomic without a transaction. Throws LeaseLost
 * when this runner no longer holds the lease: nothing is written then.
 */
export async function saveSaga(
  db: Db,
  orderId: string,
  owner: string,
  leaseMs: number,
  patch: SagaPatch,
  events: CloudEvent[] = [],
  options: { release?: boolean } = {},
): Promise<SagaRow> {
  const lease = options.release ? { leaseOwner: null, leaseUntil: null } : { leaseUntil: sql`now() + ${`${leaseMs} milliseconds`}::interval` };
  // an sql template, not the query builder: this runs twice per order (see setOf)
  const update = sql`
    update ${sagas} set ${setOf(sagas, { ...patch, updatedAt: sql`now()`, ...lease })}
    where ${sagas.orderId} = ${orderId} and ${sagas.leaseOwner} = ${owner} returning *`;
  if (events.length === 0) {
    const [row] = await preparedRowsOf(db, sagas, update);
    if (!row) throw new LeaseLost(`lost the lease on the saga of order ${orderId}`);
    return row;
  }
  const result = await executePrepared(db, sql`
    with saved as (${update}),
    queued as (${outboxInsert(FULFILLMENT_SCHEMA, events, sql`exists (select 1 from saved)`)})
    select saved.* from saved`);
  // (a data-modifying CTE runs to completion whether or not the query reads it: queued needs no reference)
  const [row] = rowsOf<Record<string, unknown>>(result);
  if (!row) throw new LeaseLost(`lost the lease on the saga of order ${orderId}`);
  // no NOTIFY (it serializes commits database-wide): the worker's own relay is woken in-process
  wakeOutboxRelays(FULFILLMENT_SCHEMA);
  return rowOf(sagas, row);
}

/**
 * Sagas that should be moving and are not: RUNNING or COMPENSATING, no progress saved for `stuckAfterSeconds`, and
 * no lease held (none, or run out). Their message is gone (dead-lettered, or lost to an operator's purge).
 */
export async function findStuckSagas(db: Db, stuckAfterSeconds: number, limit: number): Promise<string[]> {
  const rows = await db
    .select({ orderId: sagas.orderId })
    .from(sagas)
    .where(
      and(
        inArray(sagas.status, ['RUNNING', 'COMPENSATING']),
        lt(sagas.updatedAt, sql`now() - ${`${stuckAfterSeconds} seconds`}::interval`),
        or(isNull(sagas.leaseUntil), lt(sagas.leaseUntil, sql`now()`)),
      ),
    )
    .orderBy(asc(sagas.updatedAt))
    .limit(limit);
  return rows.map((row) => row.orderId);
}

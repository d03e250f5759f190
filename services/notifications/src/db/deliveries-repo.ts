/**
 * One delivery per (event id, channel), whatever happens. The delivery log row is claimed with a lease, the provider
 * called, and the outcome recorded: two statements, neither held open across the provider's round trip.
 *
 *   claim: insert the row PENDING until now + the lease, or take an existing one that is FAILED or whose lease has
 *   run out (one INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING)  →  send  →  mark SENT (provider id, attempts)
 *   or FAILED (attempts, last error)
 *
 * - Concurrent duplicates (SQS standard queues may hand the same message to two consumers at once, and the outbox
 *   relay may publish an event twice): the claim of the second finds the row PENDING under the first's lease and
 *   takes nothing. It looks again a few times (the first normally finishes in milliseconds), finds the row SENT
 *   and sends nothing; if the holder is still at it, the delivery is `in-progress` and the handler sends the message
 *   back until the lease runs out.
 * - A failed send is recorded (attempts, last_error), then the caller fails the message: SQS redelivers it with
 *   backoff and after 5 receives moves it to the dead-letter queue. A redelivery finds the row FAILED and tries
 *   again; channels already SENT are not repeated.
 * - The remaining window, stated honestly: a crash (or a lost connection) after the provider accepted the message
 *   and before the row is marked SENT leaves it PENDING; once its lease has run out, the redelivered event sends it
 *   again. The local sink closes that window itself (its file is created exclusively under the delivery key); SES
 *   and SNS SMS have no idempotency key, so there the customer may receive that one message twice. The window is
 *   one provider round trip plus one UPDATE. Closing it would need the provider to deduplicate; the alternative
 *   (never retry an unfinished send) trades a rare duplicate for a rare lost message, which is worse for an order
 *   update.
 * - The lease (LEASE_SECONDS) is longer than any send can take (SES: 5 s per attempt, two attempts), so a live
 *   holder never loses it. No transaction and no connection is held while the provider answers: a slow provider
 *   does not tie up the pool, and on PGlite (embedded mode, one connection) the database stays free meanwhile.
 */
import { sql } from 'drizzle-orm';
import { executePrepared, preparedRowsOf, rowsOf, rowValuesOf, setOf, type Db } from '@securecart/db';
import type { SendResult } from '../channels/ports.ts';
import type { Channel } from '../domain/deliveries.ts';
import { deliveries, type DeliveryRow } from './schema.ts';

export interface DeliveryRequest {
  eventId: string;
  channel: Channel;
  orderId: string;
  /** the CloudEvents type */
  type: string;
  recipient: string;
}

export type DeliveryOutcome =
  | { outcome: 'sent'; messageId: string; attempts: number }
  | { outcome: 'already-sent'; messageId: string | null; attempts: number }
  | { outcome: 'failed'; error: unknown; attempts: number }
  /** another handler is sending it under its lease: try again in retryInSeconds (when the lease has run out) */
  | { outcome: 'in-progress'; attempts: number; retryInSeconds: number };

const LAST_ERROR_MAX = 1_000;

/** How long a claim holds a delivery: longer than any send takes (SES: two attempts of 5 s at most). */
export const LEASE_SECONDS = 60;
/** When the claim finds another handler sending, it looks again after these pauses before giving up for now. */
const LOOK_AGAIN_MS = [25, 100, 250, 500, 1_000];

export async function deliverOnce(db: Db, request: DeliveryRequest, send: () => Promise<SendResult>): Promise<DeliveryOutcome> {
  const key = sql`${deliveries.eventId} = ${request.eventId} and ${deliveries.channel} = ${request.channel}`;
  let row: DeliveryRow | undefined;
  for (let look = 0; ; look++) {
    row = await claim(db, request);
    if (row) break;
    const current = await stateOf(db, request);
    if (!current) continue; // gone between the two statements (rows are kept, so only if deleted by hand): claim again
    if (current.status === 'SENT') return { outcome: 'already-sent', messageId: current.providerMessageId, attempts: current.attempts };
    const pause = LOOK_AGAIN_MS[look];
    if (pause === undefined) return { outcome: 'in-progress', attempts: current.attempts, retryInSeconds: current.leaseLeftSeconds + 1 };
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
  if (row.status === 'SENT') return { outcome: 'already-sent', messageId: row.providerMessageId, attempts: row.attempts };
  const attempts = row.attempts + 1;
  let sent: SendResult;
  try {
    sent = await send();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    // not over a SENT: a handler that took over after the lease ran out may have succeeded meanwhile
    await executePrepared(
      db,
      sql`update ${deliveries} set ${setOf(deliveries, { status: 'FAILED', attempts, lastError: reason.slice(0, LAST_ERROR_MAX), claimedUntil: null, updatedAt: sql`now()` })}
          where ${key} and ${deliveries.status} <> 'SENT'`,
    );
    return { outcome: 'failed', error, attempts };
  }
  await executePrepared(
    db,
    sql`update ${deliveries} set ${setOf(deliveries, { status: 'SENT', attempts, providerMessageId: sent.messageId, lastError: null, claimedUntil: null, sentAt: sql`now()`, updatedAt: sql`now()` })}
        where ${key}`,
  );
  return { outcome: 'sent', messageId: sent.messageId, attempts };
}

/** A delivery's state, and how many seconds its lease has left (0 when it has none or it ran out). */
async function stateOf(db: Db, request: DeliveryRequest) {
  const [row] = rowsOf<{ status: DeliveryRow['status']; provider_message_id: string | null; attempts: number; lease_left: number | null }>(
    await executePrepared(
      db,
      sql`select status, provider_message_id, attempts, greatest(0, ceil(extract(epoch from claimed_until - now())))::int as lease_left
          from ${deliveries} where event_id = ${request.eventId} and channel = ${request.channel}`,
    ),
  );
  return row && { status: row.status, providerMessageId: row.provider_message_id, attempts: row.attempts, leaseLeftSeconds: row.lease_left ?? 0 };
}

/**
 * Inserts the delivery PENDING under a new lease, or takes the existing row when it is FAILED or its lease has run
 * out (a PENDING row without a lease is one a crash left before leases existed). Returns nothing when the row is
 * SENT, SKIPPED or held by another handler. One statement (twice per order: a template, prepared).
 */
async function claim(db: Db, request: DeliveryRequest): Promise<DeliveryRow | undefined> {
  const claimedUntil = sql`now() + make_interval(secs => ${LEASE_SECONDS})`;
  const [row] = await preparedRowsOf(
    db,
    deliveries,
    sql`insert into ${deliveries} ${rowValuesOf(deliveries, { ...request, status: 'PENDING', attempts: 0, claimedUntil })}
        on conflict (event_id, channel) do update set status = 'PENDING', claimed_until = excluded.claimed_until, updated_at = now()
        where ${deliveries.status} = 'FAILED'
           or (${deliveries.status} = 'PENDING' and (${deliveries.claimedUntil} is null or ${deliveries.claimedUntil} < now()))
        returning *`,
  );
  return row;
}

/** Records that an event had no contact to tell; false when it already was. */
export async function recordSkipped(db: Db, event: { eventId: string; orderId: string; type: string }): Promise<boolean> {
  const inserted = await db
    .insert(deliveries)
    .values({ ...event, channel: 'none', status: 'SKIPPED' })
    .onConflictDoNothing()
    .returning({ eventId: deliveries.eventId });
  return inserted.length === 1;
}

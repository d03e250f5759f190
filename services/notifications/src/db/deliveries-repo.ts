/**
 * One delivery per (event id, channel), whatever happens: the delivery log row is claimed, the provider called and
 * the outcome recorded in ONE transaction.
 *
 *   insert the row (PENDING), or lock it if it exists (ON CONFLICT DO UPDATE … RETURNING)  →  SENT? done, no send
 *   →  send  →  mark SENT (provider id, attempts) or FAILED (attempts, last error)  →  commit
 *
 * - Concurrent duplicates (SQS standard queues may hand the same message to two consumers at once, and the outbox
 *   relay may publish an event twice): the second handler waits on the row (the primary key while the first
 *   insert is uncommitted, then the row lock its conflict takes), then finds it SENT and sends nothing.
 * - A failed send is recorded (attempts, last_error) and committed, then the caller fails the message: SQS
 *   redelivers it with backoff and after 5 receives moves it to the dead-letter queue. A redelivery finds the row
 *   FAILED and tries again; channels already SENT are not repeated.
 * - The remaining window, stated honestly: a crash (or a lost connection) after the provider accepted the message
 *   and before the commit rolls the claim back, and the redelivered event sends it again. The local sink closes
 *   that window itself (its file is created exclusively under the delivery key); SES and SNS SMS have no
 *   idempotency key, so there the customer may receive that one message twice. The window is one provider
 *   round-trip plus one UPDATE and a COMMIT. Closing it would need the provider to deduplicate; the alternative
 *   (commit "sending" first, never retry an unfinished send) trades a rare duplicate for a rare lost message,
 *   which is worse for an order update.
 * - The transaction holds a database connection for the provider's round-trip: the handler bounds how many
 *   deliveries run at once (NOTIFY_CONCURRENCY), and the pool is sized for it. On PGlite (embedded mode, a single
 *   connection) the transaction holds the whole database for that time, which is why nothing inside it but the
 *   given `send` may run, and why `send` must not use the database.
 */
import { sql } from 'drizzle-orm';
import { executePrepared, inTransaction, preparedRowsOf, rowValuesOf, setOf, type Db } from '@securecart/db';
import type { SendResult } from '../channels/ports.ts';
import type { Channel } from '../domain/deliveries.ts';
import { deliveries } from './schema.ts';

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
  | { outcome: 'failed'; error: unknown; attempts: number };

const LAST_ERROR_MAX = 1_000;

export async function deliverOnce(db: Db, request: DeliveryRequest, send: () => Promise<SendResult>): Promise<DeliveryOutcome> {
  const key = sql`${deliveries.eventId} = ${request.eventId} and ${deliveries.channel} = ${request.channel}`;
  return inTransaction(db, async (tx): Promise<DeliveryOutcome> => {
    // Claim and lock in one statement: a new row is inserted (and locked, as uncommitted); an existing one is locked by
    // the no-op update and returned as it is now.
    // twice per order: sql templates rather than the query builder (see setOf in @securecart/db)
    const [row] = await preparedRowsOf(
      tx,
      deliveries,
      sql`insert into ${deliveries} ${rowValuesOf(deliveries, { ...request, status: 'PENDING', attempts: 0 })}
          on conflict (event_id, channel) do update set updated_at = ${deliveries.updatedAt} returning *`,
    );
    if (!row) throw new Error(`delivery ${request.eventId}/${request.channel} was neither inserted nor found`);
    if (row.status === 'SENT') return { outcome: 'already-sent', messageId: row.providerMessageId, attempts: row.attempts };
    const attempts = row.attempts + 1;
    let sent: SendResult;
    try {
      sent = await send();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      await tx
        .update(deliveries)
        .set({ status: 'FAILED', attempts, lastError: reason.slice(0, LAST_ERROR_MAX), updatedAt: sql`now()` })
        .where(key);
      return { outcome: 'failed', error, attempts };
    }
    await executePrepared(
      tx,
      sql`update ${deliveries} set ${setOf(deliveries, { status: 'SENT', attempts, providerMessageId: sent.messageId, lastError: null, sentAt: sql`now()`, updatedAt: sql`now()` })}
          where ${key}`,
    );
    return { outcome: 'sent', messageId: sent.messageId, attempts };
  });
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

/**
 * Idempotent consumers (docs/architecture.md): a handler records the event id in its schema's `processed_events` table in
 * the same transaction as its effects. A redelivered event finds its id taken and does nothing: at-least-once
 * delivery, exactly-once effect.
 */
import { sql } from 'drizzle-orm';
import { index, text, timestamp, uuid, type PgSchema } from 'drizzle-orm/pg-core';
import { affectedRows, type Db } from '@securecart/db';

/** Pruned by the schema's outbox relay after its retention (`processedEvents: true`): a redelivery older than that
 * is no longer recognised, so the retention must outlast any message that can still come back. */
export function processedEventsTable(schema: PgSchema) {
  return schema.table(
    'processed_events',
    {
      eventId: uuid('event_id').primaryKey(),
      type: text('type').notNull(),
      processedAt: timestamp('processed_at', { withTimezone: true }).notNull().defaultNow(),
    },
    (t) => [index('processed_events_processed_at_idx').on(t.processedAt)],
  );
}

/** Records the event as processed; false when it already was (the caller then skips its effects). */
export async function recordProcessed(tx: Db, schemaName: string, eventId: string, type: string): Promise<boolean> {
  const result = await tx.execute(sql`
    insert into ${sql.identifier(schemaName)}.processed_events (event_id, type) values (${eventId}, ${type})
    on conflict (event_id) do nothing`);
  return affectedRows(result) === 1;
}

/**
 * Transactions that give their connection back whatever happens.
 *
 * drizzle-orm 0.45's node-postgres `transaction()` sends BEGIN before its try block: when BEGIN fails (the primary
 * just went away) the pooled client is never released, and after `max` such failures the pool is exhausted for
 * good; the service cannot recover even when the primary is back. This helper runs BEGIN inside the try, releases
 * the client in every case, and destroys it (release with the error) when the connection broke, so a dead
 * connection never goes back to the pool. PGlite (one in-process connection) uses drizzle's own transaction.
 */
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { isConnectionError } from './errors.ts';
import type { Db } from './types.ts';

export async function inTransaction<T>(db: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  const client = (db as unknown as { $client?: unknown }).$client;
  if (!(client instanceof pg.Pool)) return db.transaction((tx) => work(tx as unknown as Db));
  const connection = await client.connect();
  let broken: Error | undefined;
  try {
    await connection.query('begin');
    const result = await work(drizzle(connection));
    await connection.query('commit');
    return result;
  } catch (error) {
    if (isConnectionError(error)) {
      broken = error as Error;
    } else {
      await connection.query('rollback').catch((rollbackError: unknown) => {
        broken = rollbackError as Error;
      });
    }
    throw error;
  } finally {
    connection.release(broken);
  }
}

/**
 * Runs a statement as a named prepared statement: Postgres parses and plans it once per connection, and after a few
 * runs keeps a generic plan, instead of parsing and planning its text every time. For the statements that run
 * several times per order (measured in a flash sale: planning took about as much of Postgres's CPU as executing).
 *
 * The name is derived from the statement's text, so only statements with a bounded number of shapes belong here
 * (not an `IN (...)` list of any length: use `= any($1)`). Rows come back as drizzle's own raw queries return them
 * (map a table's rows with rowOf). PGlite (embedded mode) runs it as a plain statement.
 */
import { createHash } from 'node:crypto';
import type { SQLWrapper, Table } from 'drizzle-orm';
import type { PgDialect } from 'drizzle-orm/pg-core';
import { rowOf } from './sql-parts.ts';
import { rowsOf, type Db } from './types.ts';

const names = new Map<string, string>();

function nameOf(text: string): string {
  let name = names.get(text);
  if (!name) {
    name = `sc_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    names.set(text, name);
  }
  return name;
}

export async function executePrepared(db: Db, query: SQLWrapper): Promise<unknown> {
  const built = (db as unknown as { dialect: PgDialect }).dialect.sqlToQuery(query.getSQL());
  return db._.session.prepareQuery(built, undefined, nameOf(built.sql), false).execute();
}

/** Whole rows of `table` from a prepared statement (its `select *` or `returning *`), mapped as drizzle maps them. */
export async function preparedRowsOf<T extends Table>(db: Db, table: T, query: SQLWrapper): Promise<T['$inferSelect'][]> {
  return rowsOf<Record<string, unknown>>(await executePrepared(db, query)).map((row) => rowOf(table, row));
}

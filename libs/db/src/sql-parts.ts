/**
 * The pieces of the `sql` templates that replace the query builder on the statements that run for every order (see
 * prepared.ts): a raw row mapped as drizzle maps it, and the SET list or the VALUES row of a table's columns.
 */
import { getTableColumns, is, SQL, sql, type Column, type Table } from 'drizzle-orm';

/**
 * A row of `table` as a raw statement returned it (column names, driver values), mapped as drizzle's own queries map
 * it: for the `returning *` of a data-modifying CTE, which drizzle's builder cannot express.
 */
export function rowOf<T extends Table>(table: T, row: Record<string, unknown>): T['$inferSelect'] {
  const mapped: Record<string, unknown> = {};
  for (const [key, column] of Object.entries(getTableColumns(table))) {
    const value = row[column.name];
    mapped[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return mapped as T['$inferSelect'];
}

type Values<T extends Table> = { [K in keyof T['$inferSelect']]?: T['$inferSelect'][K] | SQL };

/** A column's value as the driver takes it (drizzle's own mapping: jsonb as JSON text, a Date as ISO text); SQL as is. */
function driverValue(column: Column, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  return is(value, SQL) ? value : column.mapToDriverValue(value);
}

function columnsOf<T extends Table>(table: T, values: Values<T>): [Column, unknown][] {
  const columns = getTableColumns(table) as Record<string, Column>;
  return Object.entries(values)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => {
      const column = columns[key];
      if (!column) throw new Error(`${key} is not a column of this table`);
      return [column, value];
    });
}

/**
 * `"column" = value, …` for an UPDATE of `table` (keys as in its drizzle schema), for the statements that run several
 * times per order: as an `sql` template with this, a statement takes about a tenth of the CPU of the query builder
 * (measured: 25–35 µs against 170 µs for a saga's save).
 */
export function setOf<T extends Table>(table: T, values: Values<T>): SQL {
  return sql.join(
    columnsOf(table, values).map(([column, value]) => sql`${sql.identifier(column.name)} = ${driverValue(column, value)}`),
    sql`, `,
  );
}

/** `("column", …) values (value, …)` for an INSERT of one row of `table`, as setOf does for an UPDATE. */
export function rowValuesOf<T extends Table>(table: T, values: Values<T>): SQL {
  const entries = columnsOf(table, values);
  return sql`(${sql.join(entries.map(([column]) => sql.identifier(column.name)), sql`, `)}) values (${sql.join(
    entries.map(([column, value]) => sql`${driverValue(column, value)}`),
    sql`, `,
  )})`;
}

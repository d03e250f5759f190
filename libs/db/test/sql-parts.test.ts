/** setOf and rowValuesOf: the SQL text and parameters they build, mapped as drizzle's query builder maps them. */
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, jsonb, pgSchema, PgDialect, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { rowValuesOf, setOf } from '../src/index.ts';

const things = pgSchema('shop').table('things', {
  id: uuid('id').primaryKey(),
  name: text('name'),
  details: jsonb('details').$type<{ colour: string }>(),
  count: integer('count'),
  seenAt: timestamp('seen_at', { withTimezone: true }),
});
const dialect = new PgDialect();
const query = (q: ReturnType<typeof sql>) => dialect.sqlToQuery(q);

describe('setOf', () => {
  it('sets each given column by its database name, jsonb as JSON text, a Date as ISO text, SQL as it is; undefined is left out', () => {
    const at = new Date('2026-12-06T03:00:00.000Z');
    const built = query(sql`update ${things} set ${setOf(things, { name: null, details: { colour: 'red' }, seenAt: at, count: sql`count + 1`, id: undefined })}`);
    expect(built.sql).toBe('update "shop"."things" set "name" = $1, "details" = $2, "seen_at" = $3, "count" = count + 1');
    expect(built.params).toEqual([null, '{"colour":"red"}', '2026-12-06T03:00:00.000Z']);
  });

  it('builds what the query builder builds for the same values', () => {
    const values = { name: 'lamp', details: { colour: 'blue' }, count: 3 };
    const { sql: text, params } = query(sql`update ${things} set ${setOf(things, values)}`);
    expect({ sql: text, params }).toEqual(drizzle.mock().update(things).set(values).toSQL());
  });

  it('refuses a key that is not a column', () => {
    expect(() => setOf(things, { colour: 'red' } as never)).toThrow(/colour is not a column/);
  });
});

describe('rowValuesOf', () => {
  it('lists the given columns and their values in the same order', () => {
    const built = query(sql`insert into ${things} ${rowValuesOf(things, { id: '00000000-0000-4000-8000-000000000000', details: { colour: 'green' }, count: 1 })}`);
    expect(built.sql).toBe('insert into "shop"."things" ("id", "details", "count") values ($1, $2, $3)');
    expect(built.params).toEqual(['00000000-0000-4000-8000-000000000000', '{"colour":"green"}', 1]);
  });
});

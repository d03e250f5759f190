/** `pnpm db:migrate` and `pnpm db:seed`, run as the README says, against an empty database. */
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, expect, inject, it } from 'vitest';
import { createScratchDatabase, startProcess } from '@securecart/testing';

const infra = inject('infra');
const root = fileURLToPath(new URL('../../..', import.meta.url));
let drop: (() => Promise<void>) | undefined;
afterAll(async () => drop?.());

async function run(script: string, databaseUrl: string) {
  const proc = startProcess(fileURLToPath(new URL(`../src/db/${script}`, import.meta.url)), { DATABASE_URL: databaseUrl }, root);
  return { code: await proc.exited, output: proc.output() };
}

it('migrates an empty database, seeds 240 demo products in 8 categories, and leaves a seeded catalog alone', async () => {
  const scratch = await createScratchDatabase(infra, 'commands');
  drop = scratch.drop;
  expect(await run('migrate.ts', scratch.databaseUrl)).toEqual({ code: 0, output: expect.stringContaining('schema catalog is up to date') });
  expect(await run('migrate.ts', scratch.databaseUrl)).toMatchObject({ code: 0 }); // idempotent
  expect(await run('seed.ts', scratch.databaseUrl)).toEqual({ code: 0, output: expect.stringContaining('inserted 240 demo products') });
  expect(await run('seed.ts', scratch.databaseUrl)).toEqual({ code: 0, output: expect.stringContaining('left alone') });
  const client = new pg.Client({ connectionString: scratch.databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query('select count(*)::int as products, count(distinct category)::int as categories from catalog.products');
    expect(rows[0]).toEqual({ products: 240, categories: 8 });
  } finally {
    await client.end();
  }
});

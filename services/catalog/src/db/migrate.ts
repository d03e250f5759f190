/** CLI: `pnpm db:migrate` applies the catalog's migrations to DATABASE_URL. */
import { migrateWithUrl } from '@securecart/db';
import { catalogMigrations } from './migrations.ts';

const url = process.env.DATABASE_URL;
if (!url) {
  console.error('db:migrate: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/securecart)');
  process.exit(1);
}
await migrateWithUrl(url, catalogMigrations);
console.log(`db:migrate: schema ${catalogMigrations.schema} is up to date`);

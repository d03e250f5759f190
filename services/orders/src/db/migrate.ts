/** CLI: `node services/orders/src/db/migrate.ts` applies the orders service's migrations to DATABASE_URL. */
import { migrateWithUrl } from '@securecart/db';
import { ordersMigrations } from './migrations.ts';

const url = process.env.DATABASE_URL;
if (!url) {
  console.error('orders db:migrate: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/securecart)');
  process.exit(1);
}
await migrateWithUrl(url, ordersMigrations);
console.log(`db:migrate: schema ${ordersMigrations.schema} is up to date`);

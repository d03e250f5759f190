/** CLI: `pnpm db:migrate` applies the fulfillment service's migrations to DATABASE_URL. */
import { runMigrateCommand } from '@securecart/db';
import { fulfillmentMigrations } from './migrations.ts';

await runMigrateCommand(fulfillmentMigrations);

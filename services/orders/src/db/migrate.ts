/** CLI: `pnpm db:migrate` applies the orders service's migrations to DATABASE_URL. */
import { runMigrateCommand } from '@securecart/db';
import { ordersMigrations } from './migrations.ts';

await runMigrateCommand(ordersMigrations);

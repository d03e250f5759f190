/** CLI: `pnpm db:migrate` applies the notifications service's migrations to DATABASE_URL. */
import { runMigrateCommand } from '@securecart/db';
import { notificationsMigrations } from './migrations.ts';

await runMigrateCommand(notificationsMigrations);

/** CLI: `pnpm db:migrate` applies the catalog service's migrations to DATABASE_URL. */
import { runMigrateCommand } from '@securecart/db';
import { catalogMigrations } from './migrations.ts';

await runMigrateCommand(catalogMigrations);

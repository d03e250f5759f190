export * from './app.ts';
export * from './config.ts';
export * from './db/migrations.ts';
export * from './db/seed.ts';
export * from './db/seed-data.ts';
export { startCatalogServer } from './server.ts';
export { CATALOG_SCHEMA } from './db/schema.ts';

/**
 * Embedded mode, `pnpm start`: one process runs the edge router on :8080 and every service behind it, with
 * embedded defaults for whatever is not configured:
 *   - DATABASE_URL unset  -> PGlite, kept in .data/pglite (migrated and seeded with the demo catalog on first start)
 *   - REDIS_URL unset     -> an in-process cache and pub/sub
 *   - always              -> the development identity provider (POST /api/dev/token), refused under NODE_ENV=production
 * Set DATABASE_URL (and DATABASE_READ_URL) or REDIS_URL and it uses them instead.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { pino } from 'pino';
import { Cache, connectRedis, MemoryStore, RedisStore, type SharedStore } from '@securecart/cache';
import { buildCatalogApp, catalogMigrations, seedDemoCatalog } from '@securecart/catalog';
import { loadConfigOrExit } from '@securecart/config';
import { createPool, migratePgliteDb, migrateWithUrl, ReplicaRouter, type Db } from '@securecart/db';
import { createDevIdentityProvider, devIdentityRoutes } from '@securecart/dev-idp';
import { buildEdge } from '@securecart/edge';
import { createJwksVerifier } from '@securecart/http-kit';
import { loadEmbeddedConfig, type EmbeddedConfig } from './config.ts';

interface Database {
  primary: Db;
  replica?: Db;
  description: string;
  close(): Promise<void>;
}

async function openDatabase(config: EmbeddedConfig, log: pino.Logger): Promise<Database> {
  if (config.DATABASE_URL) {
    await migrateWithUrl(config.DATABASE_URL, catalogMigrations);
    const onError = (error: Error) => log.warn({ err: error }, 'idle database connection failed');
    const primary = createPool(config.DATABASE_URL, { name: 'catalog', onError });
    const replica = config.DATABASE_READ_URL ? createPool(config.DATABASE_READ_URL, { name: 'catalog-replica', onError }) : undefined;
    return {
      primary: drizzlePg(primary),
      ...(replica ? { replica: drizzlePg(replica) } : {}),
      description: `Postgres ${redact(config.DATABASE_URL)}${config.DATABASE_READ_URL ? ` + replica ${redact(config.DATABASE_READ_URL)}` : ''}`,
      close: async () => {
        await Promise.allSettled([primary.end(), replica?.end()]);
      },
    };
  }
  const dir = path.resolve(config.DATA_DIR, 'pglite');
  mkdirSync(dir, { recursive: true });
  const pglite = await PGlite.create(dir);
  const db = drizzlePglite(pglite);
  await migratePgliteDb(db, catalogMigrations);
  return { primary: db, description: `PGlite in ${dir}`, close: () => pglite.close() };
}

const redact = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');

export async function startEmbedded(config: EmbeddedConfig) {
  const log = pino({ level: config.LOG_LEVEL, base: { mode: 'embedded' } });
  const publicUrl = `http://localhost:${config.PORT}`;
  const idp = await createDevIdentityProvider({ issuer: publicUrl, audience: 'securecart', nodeEnv: config.NODE_ENV });

  const database = await openDatabase(config, log);
  const seeded = await seedDemoCatalog(database.primary);
  if (seeded > 0) log.info({ products: seeded }, 'seeded the demo catalog');

  const redis = config.REDIS_URL ? await connectRedis(config.REDIS_URL, { name: 'catalog' }) : undefined;
  const subscriber = config.REDIS_URL ? await connectRedis(config.REDIS_URL, { name: 'catalog-sub' }) : undefined;
  const store: SharedStore = redis && subscriber ? new RedisStore(redis, subscriber) : new MemoryStore();
  const router = new ReplicaRouter({ primary: database.primary, ...(database.replica ? { replica: database.replica } : {}), log });
  const cache = new Cache({ store, namespace: config.CACHE_NAMESPACE, log });
  await Promise.all([router.start(), cache.start()]);

  const catalog = await buildCatalogApp(
    {
      db: router,
      cache,
      // Verified exactly as in AWS: RS256 against the JWKS the edge serves, issuer and audience checked.
      verifier: createJwksVerifier({ jwksUrl: `http://127.0.0.1:${config.PORT}/.well-known/jwks.json`, issuer: idp.issuer, audience: idp.audience }),
      ...(redis ? { redis } : {}),
      logger: log.child({ service: 'catalog' }),
    },
    { namespace: config.CACHE_NAMESPACE, defaultMetrics: true },
  );
  const catalogUrl = await catalog.listen({ port: config.CATALOG_PORT, host: '127.0.0.1' });

  const edge = await buildEdge({
    upstreams: { catalog: catalogUrl },
    extraRoutes: async (app) => {
      await app.register(devIdentityRoutes, { idp });
    },
  });
  await edge.listen({ port: config.PORT, host: config.HOST });

  const stop = async () => {
    catalog.draining = true;
    await edge.close();
    await catalog.close();
    router.stop();
    await cache.stop();
    await Promise.allSettled([redis?.quit(), subscriber?.quit()]);
    await database.close();
  };
  return { publicUrl, catalogUrl, seeded, database: database.description, cache: redis ? `Redis ${redact(config.REDIS_URL!)}` : 'in-process', stop };
}

async function main() {
  const config = loadConfigOrExit('securecart', () => loadEmbeddedConfig());
  let running: Awaited<ReturnType<typeof startEmbedded>>;
  try {
    running = await startEmbedded(config);
  } catch (error) {
    process.stderr.write(`securecart: could not start: ${(error as Error).message}\n`);
    process.exit(1);
  }
  const lines = [
    '',
    `SecureCart is running (embedded mode)`,
    `  API (edge)     ${running.publicUrl}/api/catalog/products`,
    `  dev token      curl -s -X POST ${running.publicUrl}/api/dev/token -H 'content-type: application/json' -d '{"sub":"alice","groups":["admin"]}'`,
    `  catalog docs   ${running.catalogUrl.replace('127.0.0.1', 'localhost')}/docs`,
    `  database       ${running.database}`,
    `  cache          ${running.cache}`,
    ...(running.seeded > 0 ? [`  demo data      seeded ${running.seeded} products`] : []),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const onSignal = () => {
    if (stopping) process.exit(1);
    stopping = true;
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

if (import.meta.main) await main();

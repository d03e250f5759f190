/**
 * Embedded mode's infrastructure: what is configured, or an embedded default for what is not.
 *   Postgres   DATABASE_URL (+ DATABASE_READ_URL)  or PGlite in DATA_DIR/pglite
 *   Redis      REDIS_URL                           or in-process stand-ins (a Map-backed cache store, and
 *                                                  ioredis-mock where a service speaks Redis commands: carts)
 *   SNS/SQS    AWS_ENDPOINT_URL                    or fauxqs in this process, topology bootstrapped at start
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { startFauxqs } from 'fauxqs';
import type { Redis } from 'ioredis';
import RedisMock from 'ioredis-mock';
import type { pino } from 'pino';
import { connectRedis, MemoryStore, RedisStore, type SharedStore } from '@securecart/cache';
import { createPool, migratePgliteDb, migrateWithUrl, type Db, type MigrationSet } from '@securecart/db';
import { bootstrapTopology, createAwsClients, destroyAwsClients, type AwsClients, type MessagingAddresses } from '@securecart/messaging';
import type { EmbeddedConfig } from './config.ts';

export interface Database {
  primary: Db;
  replica?: Db;
  description: string;
  close(): Promise<void>;
}

export const redact = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');

export async function openDatabase(config: EmbeddedConfig, migrations: MigrationSet[], log: pino.Logger): Promise<Database> {
  if (config.DATABASE_URL) {
    for (const set of migrations) await migrateWithUrl(config.DATABASE_URL, set);
    const onError = (error: Error) => log.warn({ err: error }, 'idle database connection failed');
    const primary = createPool(config.DATABASE_URL, { name: 'securecart', onError });
    const replica = config.DATABASE_READ_URL ? createPool(config.DATABASE_READ_URL, { name: 'securecart-replica', onError }) : undefined;
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
  for (const set of migrations) await migratePgliteDb(db, set);
  return { primary: db, description: `PGlite in ${dir}`, close: () => pglite.close() };
}

export interface RedisLike {
  /** for code that speaks Redis commands (carts, idempotency, rate limits) */
  client(name: string): Promise<Redis>;
  /** the shared tier of the catalog cache */
  cacheStore(): Promise<SharedStore>;
  description: string;
  close(): Promise<void>;
}

export function openRedis(config: EmbeddedConfig): RedisLike {
  const opened: Redis[] = [];
  if (config.REDIS_URL) {
    const url = config.REDIS_URL;
    const connect = async (name: string) => {
      const client = await connectRedis(url, { name });
      opened.push(client);
      return client;
    };
    return {
      client: connect,
      cacheStore: async () => new RedisStore(await connect('catalog'), await connect('catalog-sub')),
      description: `Redis ${redact(url)}`,
      close: async () => {
        await Promise.allSettled(opened.map((c) => c.quit()));
      },
    };
  }
  // One in-process "server": every client sees the same data, as tasks sharing one Redis would.
  const shared = new (RedisMock as unknown as new () => Redis)();
  return {
    client: async () => shared,
    cacheStore: async () => new MemoryStore(),
    description: 'in-process',
    close: async () => shared.disconnect(),
  };
}

export interface Messaging {
  clients: AwsClients;
  addresses: MessagingAddresses;
  description: string;
  close(): Promise<void>;
}

export async function openMessaging(config: EmbeddedConfig): Promise<Messaging> {
  const fauxqs = config.AWS_ENDPOINT_URL ? undefined : await startFauxqs({ port: config.FAUXQS_PORT, logger: false });
  const endpoint = config.AWS_ENDPOINT_URL ?? fauxqs!.address;
  const clients = createAwsClients({ region: config.AWS_REGION, endpoint });
  const addresses = await bootstrapTopology(clients);
  return {
    clients,
    addresses,
    description: fauxqs ? `fauxqs in-process at ${endpoint}` : `SNS/SQS at ${endpoint}`,
    close: async () => {
      destroyAwsClients(clients);
      await fauxqs?.stop();
    },
  };
}

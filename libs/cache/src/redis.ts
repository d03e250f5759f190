/**
 * Redis clients tuned for a cache and a rate limiter in front of a database: commands fail fast when Redis is
 * away (no offline queue, a short command timeout) so callers can fall back instead of piling up.
 */
import { Redis } from 'ioredis';

export interface RedisClientOptions {
  /** shown in CLIENT LIST, useful when several services share one Redis */
  name: string;
  commandTimeoutMs?: number;
}

export async function connectRedis(url: string, options: RedisClientOptions): Promise<Redis> {
  const client = new Redis(url, {
    connectionName: options.name,
    lazyConnect: true,
    enableOfflineQueue: false,
    // Commands issued in the same tick (rate-limit checks and cache reads of concurrent requests) share one write.
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs ?? 500,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  // ioredis reports every failed reconnect as an 'error' event; without a listener that would crash the process.
  client.on('error', () => {});
  await client.connect();
  return client;
}

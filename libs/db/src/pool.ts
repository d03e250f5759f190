/**
 * node-postgres pools with the settings a service behind a load balancer needs: a name in pg_stat_activity,
 * bounded connect and statement times (a dead database fails a request fast instead of hanging it), and an
 * error listener (an idle connection dropped by the server must not crash the process). Pools and single clients
 * (LISTEN) take TLS from the URL's sslmode and DATABASE_CA (tls.ts).
 */
import pg from 'pg';
import { connectionConfig, type DatabaseCa } from './tls.ts';

export interface PoolOptions {
  /** application_name, visible in pg_stat_activity */
  name: string;
  max?: number;
  connectTimeoutMs?: number;
  statementTimeoutMs?: number;
  onError?: (error: Error) => void;
  /** DATABASE_CA: the certificate authorities a `sslmode=verify-full` URL is checked against */
  ca?: DatabaseCa | undefined;
}

export function createPool(url: string, options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    ...connectionConfig(url, options.ca),
    application_name: options.name,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 2_000,
    statement_timeout: options.statementTimeoutMs ?? 5_000,
    query_timeout: (options.statementTimeoutMs ?? 5_000) + 1_000,
    idleTimeoutMillis: 30_000,
  });
  const onError = (error: Error) => options.onError?.(error);
  pool.on('error', onError);
  // A checked-out client whose connection dies between queries (inside a transaction, say) emits 'error' itself;
  // with no listener that would crash the process. The query in flight fails on its own and is answered with 503.
  pool.on('connect', (client) => client.on('error', onError));
  return pool;
}

export interface ClientOptions {
  /** application_name, visible in pg_stat_activity */
  name: string;
  /** DATABASE_CA, as for createPool */
  ca?: DatabaseCa | undefined;
  connectTimeoutMs?: number;
}

/** One connection of its own (LISTEN, a migration's advisory lock), with the same TLS as the pools. */
export function createClient(url: string, options: ClientOptions): pg.Client {
  return new pg.Client({
    ...connectionConfig(url, options.ca),
    application_name: options.name,
    ...(options.connectTimeoutMs === undefined ? {} : { connectionTimeoutMillis: options.connectTimeoutMs }),
  });
}

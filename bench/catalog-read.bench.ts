/**
 * Catalog read benchmark: how many public product reads per second one catalog process serves, and how that
 * compares with a bare Fastify hello-world on the same machine.
 *
 * Measured, each after a warm-up, with autocannon (10 connections, 10 s; BENCH_CONNECTIONS, BENCH_DURATION):
 *   - bare Fastify GET /                                   the floor: what Fastify alone costs per request
 *   - GET /api/catalog/products/<slug>                     one product, served from the warm cache
 *   - GET /api/catalog/products?limit=20                   a page of 20 products, warm cache
 *   - GET /api/catalog/products/<slug> + If-None-Match     the 304 a client or CDN holding the ETag gets
 *
 * Absolute req/s depend on the machine, so the table also gives each target's req/s as a ratio of bare
 * Fastify's: that number says what the catalog's own work (validation, auth hooks, rate limits, cache, headers)
 * costs, and can be compared across machines. Both servers run as child processes, so the load generator does
 * not share their event loop. The catalog runs against a fresh database on the local primary and its streaming
 * replica, and Redis (`pnpm bench` runs scripts/with-local-infra.sh); the database is dropped at the end.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import type { Result } from 'autocannon';
import { drizzle } from 'drizzle-orm/node-postgres';
import { startFauxqs } from 'fauxqs';
import { catalogMigrations, seedDemoCatalog } from '@securecart/catalog';
import { createPool, migrateWithUrl } from '@securecart/db';
import { waitFor, withDatabase } from '@securecart/testing';
import { answers200, freePort, onCleanUp, query, requireEnv, runBenchmark, startProcess, waitUntil } from './lib/harness.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARMUP_SECONDS = 2;

interface Target {
  name: string;
  url: string;
  headers?: Record<string, string>;
  /** the status class every answer must have */
  expect: '2xx' | '3xx';
}

/** A fresh, seeded database on the primary, visible on the replica; returns its URLs and a product slug. */
async function createBenchDatabase(primaryUrl: string, replicaUrl: string) {
  const name = `securecart_bench_${randomBytes(4).toString('hex')}`;
  await query(primaryUrl, `create database ${name}`);
  onCleanUp(() => query(primaryUrl, `drop database if exists ${name} with (force)`));
  const what = `database ${name} on the replica`;
  await waitFor(async () => (await query(replicaUrl, 'select 1 from pg_database where datname = $1', [name])).length > 0, { timeoutMs: 30_000, intervalMs: 100, what });
  const url = withDatabase(primaryUrl, name);
  const readUrl = withDatabase(replicaUrl, name);
  await migrateWithUrl(url, catalogMigrations);
  const pool = createPool(url, { name: 'bench-seed' });
  await seedDemoCatalog(drizzle(pool)).finally(() => pool.end());
  // The catalog reads from the replica: wait until the seed has streamed there, so no empty page gets cached.
  const slugQuery = 'select slug from catalog.products order by slug limit 1';
  const slug = await waitFor(async () => (await query(readUrl, slugQuery))[0]?.slug as string | undefined, { timeoutMs: 30_000, intervalMs: 100, what: 'the seed on the replica' });
  return { name, url, readUrl, slug };
}

/** Polls `url` until it answers 200; fails at once if the server exits, and after 30 s. */
const waitUntilReady = (child: ChildProcess, url: string) => waitUntil(child, `${url} answered 200`, answers200(url));

function load(target: Target, seconds: number): Promise<Result> {
  return autocannon({ url: target.url, connections: CONNECTIONS, duration: seconds, headers: target.headers ?? {} });
}

/** Throws when any answer was not of the expected status class, or a connection failed. */
function check(target: Target, r: Result): void {
  const answers = r['1xx'] + r['2xx'] + r['3xx'] + r['4xx'] + r['5xx'];
  const unexpected = answers - r[target.expect];
  if (unexpected > 0 || r.errors > 0 || r[target.expect] === 0) {
    throw new Error(`${target.name}: ${unexpected} answers other than ${target.expect} (4xx ${r['4xx']}, 5xx ${r['5xx']}), ${r.errors} errors, ${r.timeouts} timeouts`);
  }
}

async function measure(target: Target, seconds: number): Promise<Result> {
  const result = await load(target, seconds);
  check(target, result);
  return result;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/**
 * Medians over the rounds. On a small shared machine one run of one target can be off by half (the load
 * generator, both servers, Postgres and Redis share the cores), so targets alternate within each round and the
 * ratio is taken between medians, with its range over the rounds beside it.
 */
function report(rounds: Result[][], targets: Target[]): string {
  const bareByRound = rounds.map((round) => round[0]!.requests.mean);
  const rows = targets.map((target, t) => {
    const results = rounds.map((round) => round[t]!);
    const rps = median(results.map((r) => r.requests.mean));
    const ratios = results.map((r, i) => r.requests.mean / bareByRound[i]!);
    const ratio = (rps / median(bareByRound)).toFixed(2);
    const range = `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
    return `| ${target.name} | ${Math.round(rps)} | ${median(results.map((r) => r.latency.p50))} | ${median(results.map((r) => r.latency.p99))} | ${ratio} (${range}) |`;
  });
  const settings = [
    process.env.BENCH_DURATION && `BENCH_DURATION=${DURATION}`,
    process.env.BENCH_CONNECTIONS && `BENCH_CONNECTIONS=${CONNECTIONS}`,
    process.env.BENCH_ROUNDS && `BENCH_ROUNDS=${ROUNDS}`,
  ].filter(Boolean);
  const command = process.env.npm_lifecycle_event ? `pnpm ${process.env.npm_lifecycle_event}` : `node ${path.relative(process.cwd(), process.argv[1]!)}`;
  return [
    `## Catalog reads vs bare Fastify`,
    '',
    `Command: \`${[...settings, command].join(' ')}\` (${CONNECTIONS} connections; ${ROUNDS} rounds of ${DURATION} s per target, after a ${WARMUP_SECONDS} s warm-up of each)`,
    `Machine: node ${process.version}, ${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? 'unknown CPU'}`,
    '',
    '| target | req/s (median of rounds) | p50 ms | p99 ms | vs bare Fastify (range over rounds) |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

async function main(): Promise<void> {
  const primaryUrl = requireEnv('TEST_DATABASE_URL');
  const replicaUrl = requireEnv('TEST_DATABASE_READ_URL');
  const redisUrl = requireEnv('TEST_REDIS_URL');
  const db = await createBenchDatabase(primaryUrl, replicaUrl);

  // The catalog relays catalog-events; in production it must have somewhere to publish them.
  const fauxqs = await startFauxqs({ port: 0, logger: false });
  onCleanUp(() => fauxqs.stop());
  const [barePort, catalogPort] = [await freePort(), await freePort()];
  const bare = startProcess('bench/bare-fastify.ts', { PORT: String(barePort) });
  const catalog = startProcess('services/catalog/src/server.ts', {
    PORT: String(catalogPort), HOST: '127.0.0.1', NODE_ENV: 'production', LOG_LEVEL: 'warn',
    DATABASE_URL: db.url, DATABASE_READ_URL: db.readUrl, REDIS_URL: redisUrl, CACHE_NAMESPACE: `bench-${randomBytes(4).toString('hex')}`,
    AUTH_JWKS_URL: 'http://127.0.0.1:9/jwks.json', AUTH_ISSUER: 'bench', AUTH_AUDIENCE: 'bench', RATE_LIMIT_MAX: '100000000',
    AWS_ENDPOINT_URL: fauxqs.address,
  });
  const bareUrl = `http://127.0.0.1:${barePort}/`;
  const catalogUrl = `http://127.0.0.1:${catalogPort}`;
  await Promise.all([waitUntilReady(bare.process, bareUrl), waitUntilReady(catalog.process, `${catalogUrl}/health/ready`)]);

  const productUrl = `${catalogUrl}/api/catalog/products/${db.slug}`;
  const first = await fetch(productUrl);
  const etag = first.headers.get('etag');
  if (first.status !== 200 || !etag) throw new Error(`GET ${productUrl} answered ${first.status} with ETag ${etag}`);

  const targets: Target[] = [
    { name: 'bare Fastify `GET /`', url: bareUrl, expect: '2xx' },
    { name: 'catalog `GET /products/:slug`', url: productUrl, expect: '2xx' },
    { name: 'catalog `GET /products?limit=20`', url: `${catalogUrl}/api/catalog/products?limit=20`, expect: '2xx' },
    { name: 'catalog `GET /products/:slug` 304', url: productUrl, headers: { 'if-none-match': etag }, expect: '3xx' },
  ];
  for (const target of targets) {
    console.error(`${target.name}: warming up ${WARMUP_SECONDS} s`);
    await measure(target, WARMUP_SECONDS);
  }
  const rounds: Result[][] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const results: Result[] = [];
    for (const target of targets) {
      console.error(`round ${round}/${ROUNDS}: ${target.name}, ${DURATION} s`);
      results.push(await measure(target, DURATION));
    }
    rounds.push(results);
  }
  console.log(report(rounds, targets));
}

await runBenchmark(main);

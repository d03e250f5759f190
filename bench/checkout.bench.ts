/**
 * Checkout benchmark: how many checkouts per second checkout accepts (202), how fast the orders-worker's intake
 * turns them into PLACED orders, and how that intake rate compares with what Postgres itself does with the same
 * transaction (pgbench, same fresh database, same run).
 *
 *   1. A fresh database, fauxqs and a test identity provider in this process; catalog (seeded with the demo
 *      catalog), checkout and the orders-worker as child processes, all on one topology (no messaging prefix).
 *   2. BENCH_CUSTOMERS (50) customers, concurrently, for BENCH_DURATION (10) s each loop: fill the cart with 3
 *      demo products (3 PUTs, not timed), then POST /api/checkout with a fresh Idempotency-Key (timed). Any
 *      answer but 202 fails the run.
 *   3. After the load, wait until orders.orders holds every accepted order (120 s at most), and check that it
 *      holds exactly the accepted order ids.
 *   4. Intake capacity: with the worker stopped, the same load fills orders-intake; checkout and catalog stop and a
 *      fresh worker drains the backlog alone (first order written → last). Its outbox relay is timed too (first
 *      order written → last order.placed published), and must publish exactly one order.placed per order.
 *   5. The services are stopped, then pgbench runs one intake-shaped transaction (processed_events, orders,
 *      status_history, a ~1 KB outbox envelope, pg_notify) with 8 clients for BENCH_DURATION s: the ceiling.
 *
 * Progress goes to stderr, the markdown report to stdout. The database is dropped at the end, whatever happens.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startFauxqs } from 'fauxqs';
import { createPool } from '@securecart/db';
import { startTestIdentityProvider, withDatabase } from '@securecart/testing';
import {
  answers200, createBenchDatabase, exited, freePort, onCleanUp, percentile, query, requireEnv, runBenchmark, startProcess, waitUntil,
} from './lib/harness.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CUSTOMERS = Number(process.env.BENCH_CUSTOMERS ?? 50);
const PGBENCH_CLIENTS = 8;
const DRAIN_DEADLINE_MS = 120_000;

const ADDRESS = { name: 'Ada Lovelace', line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };
const CHECKOUT_BODY = JSON.stringify({ shippingAddress: ADDRESS, paymentToken: 'tok_approve', contact: { email: 'ada@example.com' } });

interface LoadResult {
  accepted: string[];
  latenciesMs: number[];
  firstAcceptedAt: number;
  elapsedMs: number;
  stoppedAt: number;
}

/** Every customer loops: fill the cart (untimed), POST /api/checkout (timed). The first non-202 stops everyone. */
async function runLoad(checkoutUrl: string, tokens: string[], productIds: string[], seconds: number, maxRounds = Infinity): Promise<LoadResult> {
  const accepted: string[] = [];
  const latenciesMs: number[] = [];
  let firstAcceptedAt = 0;
  let failure: Error | undefined;
  const start = performance.now();
  const end = start + seconds * 1000;

  const fillCart = async (auth: string) => {
    for (const id of productIds) {
      const res = await fetch(`${checkoutUrl}/api/cart/items/${id}`, {
        method: 'PUT', headers: { authorization: auth, 'content-type': 'application/json' }, body: '{"quantity":1}',
      });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`PUT /api/cart/items/${id} answered ${res.status}: ${text}`);
    }
  };

  const customer = async (token: string) => {
    const auth = `Bearer ${token}`;
    for (let round = 0; round < maxRounds && !failure && performance.now() < end; round++) {
      await fillCart(auth);
      const t0 = performance.now();
      const res = await fetch(`${checkoutUrl}/api/checkout`, {
        method: 'POST', headers: { authorization: auth, 'content-type': 'application/json', 'idempotency-key': randomUUID() }, body: CHECKOUT_BODY,
      });
      const text = await res.text();
      const t1 = performance.now();
      if (res.status !== 202) throw new Error(`POST /api/checkout answered ${res.status}: ${text}`);
      if (!firstAcceptedAt) firstAcceptedAt = Date.now();
      latenciesMs.push(t1 - t0);
      accepted.push((JSON.parse(text) as { orderId: string }).orderId);
    }
  };

  await Promise.all(tokens.map((token) => customer(token).catch((error: unknown) => {
    failure ??= error as Error;
  })));
  if (failure) throw failure;
  return { accepted, latenciesMs, firstAcceptedAt, elapsedMs: performance.now() - start, stoppedAt: Date.now() };
}

/** Waits until orders.orders holds `expected` rows; returns when the last one was written (its created_at). */
async function waitForOrders(url: string, expected: number): Promise<{ lastCreatedAt: number; drainedAt: number }> {
  const pool = createPool(url, { name: 'bench-drain', max: 1 });
  try {
    const deadline = Date.now() + DRAIN_DEADLINE_MS;
    let count = 0;
    for (;;) {
      count = Number((await pool.query('select count(*)::int as n from orders.orders')).rows[0].n);
      if (count >= expected) break;
      if (Date.now() > deadline) throw new Error(`only ${count} of ${expected} accepted orders persisted within ${DRAIN_DEADLINE_MS / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const drainedAt = Date.now();
    if (count !== expected) throw new Error(`orders.orders holds ${count} orders for ${expected} accepted checkouts`);
    const last = (await pool.query('select max(created_at) as at from orders.orders')).rows[0].at as Date;
    return { lastCreatedAt: last.getTime(), drainedAt };
  } finally {
    await pool.end();
  }
}

/** One intake transaction, as the orders-worker's order.submitted handler does it (see order-submitted.handler.ts). */
function pgbenchScript(): string {
  const lines = JSON.stringify([
    { productId: randomUUID(), sku: 'SKU-BENCH-0001', name: 'Bench product one', quantity: 1, unitPriceCents: 1299 },
    { productId: randomUUID(), sku: 'SKU-BENCH-0002', name: 'Bench product two', quantity: 1, unitPriceCents: 2499 },
    { productId: randomUUID(), sku: 'SKU-BENCH-0003', name: 'Bench product three', quantity: 1, unitPriceCents: 599 },
  ]);
  const address = JSON.stringify(ADDRESS);
  const contact = JSON.stringify({ email: 'ada@example.com' });
  // An order.placed CloudEvent of the size the worker writes (~1 KB): ids filled in by the transaction.
  const envelopeRest = JSON.stringify({
    specversion: '1.0', type: 'com.securecart.order.placed', source: 'orders-worker', time: new Date().toISOString(),
    datacontenttype: 'application/json', correlationid: randomUUID(), traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
    data: { customerId: 'bench-0', lines: JSON.parse(lines) as unknown, totalCents: 4397, currency: 'USD', shippingAddress: ADDRESS, contact: { email: 'ada@example.com' }, paymentToken: 'tok_approve' },
  });
  const q = (s: string) => `'${s.replaceAll("'", "''")}'`;
  const oid = "current_setting('bench.order_id')::uuid";
  // pgbench variables are not substituted inside quoted literals, so the order id travels in a transaction-local
  // setting, set by the first insert (no extra round trip).
  return [
    'BEGIN;',
    "insert into orders.processed_events (event_id, type) select gen_random_uuid(), 'com.securecart.order.submitted' from (select set_config('bench.order_id', gen_random_uuid()::text, true)) s on conflict (event_id) do nothing;",
    `insert into orders.orders (id, customer_id, status, lines, total_cents, currency, shipping_address, contact) values (${oid}, 'bench-0', 'PLACED', ${q(lines)}::jsonb, 4397, 'USD', ${q(address)}::jsonb, ${q(contact)}::jsonb) on conflict (id) do nothing returning *;`,
    `insert into orders.status_history (order_id, status, reason) values (${oid}, 'PLACED', null);`,
    `insert into orders.outbox (id, topic, type, subject, envelope) values (gen_random_uuid(), 'order-events', 'com.securecart.order.placed', ${oid}::text, jsonb_build_object('id', gen_random_uuid(), 'subject', ${oid}, 'orderId', ${oid}) || ${q(envelopeRest)}::jsonb);`,
    "select pg_notify('bench_outbox', '');",
    'COMMIT;',
    '',
  ].join('\n');
}

async function runPgbench(primaryUrl: string, dbName: string, seconds: number): Promise<{ tps: number; command: string; envelopeBytes: number }> {
  const bin = ['/usr/lib/postgresql/15/bin/pgbench'].find((p) => existsSync(p)) ?? 'pgbench';
  const dir = await mkdtemp(path.join(os.tmpdir(), 'checkout-bench-'));
  onCleanUp(() => rm(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'intake.sql');
  await writeFile(script, pgbenchScript());
  const url = new URL(primaryUrl);
  const args = ['-n', '-c', String(PGBENCH_CLIENTS), '-j', '2', '-T', String(seconds), '-f', script, '-h', url.hostname, '-p', url.port || '5432', '-U', decodeURIComponent(url.username) || 'postgres', dbName];
  const command = `pgbench ${args.join(' ').replace(script, 'intake.sql')}`;
  console.error(`pgbench: ${command}`);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(url.password ? { PGPASSWORD: decodeURIComponent(url.password) } : {}) } });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.pipe(process.stderr);
  const [code] = (await once(child, 'close')) as [number | null];
  process.stderr.write(out);
  if (code !== 0) throw new Error(`pgbench exited ${code}`);
  const failed = /number of failed transactions: (\d+)/.exec(out);
  if (failed && Number(failed[1]) > 0) throw new Error(`pgbench: ${failed[1]} failed transactions`);
  const tps = /tps = ([\d.]+)/.exec(out);
  if (!tps) throw new Error('no "tps = " line in the pgbench output');
  const sizes = await query(withDatabase(primaryUrl, dbName), "select avg(pg_column_size(envelope))::int as stored, avg(length(envelope::text))::int as text from orders.outbox where topic = 'order-events'");
  return { tps: Number(tps[1]), command, envelopeBytes: Number(sizes[0]?.text ?? 0) };
}

async function main(): Promise<void> {
  const primaryUrl = requireEnv('TEST_DATABASE_URL');
  const redisUrl = requireEnv('TEST_REDIS_URL');
  console.error('creating and seeding a fresh database');
  const db = await createBenchDatabase(primaryUrl);

  const fauxqs = await startFauxqs({ port: 0, logger: false });
  onCleanUp(() => fauxqs.stop());
  const idp = await startTestIdentityProvider();
  onCleanUp(() => idp.close());

  const namespace = `bench-${randomBytes(4).toString('hex')}`;
  const auth = { AUTH_JWKS_URL: idp.jwksUrl, AUTH_ISSUER: idp.issuer, AUTH_AUDIENCE: idp.audience };
  const common = { NODE_ENV: 'production', LOG_LEVEL: 'warn', HOST: '127.0.0.1', REDIS_URL: redisUrl, CACHE_NAMESPACE: namespace, RATE_LIMIT_MAX: '100000000' };
  const [catalogPort, checkoutPort] = [await freePort(), await freePort()];
  const catalogUrl = `http://127.0.0.1:${catalogPort}`;
  const checkoutUrl = `http://127.0.0.1:${checkoutPort}`;

  console.error('starting catalog, checkout and the orders-worker');
  const catalog = startProcess('services/catalog/src/server.ts', { ...common, ...auth, PORT: String(catalogPort), DATABASE_URL: db.url, AWS_ENDPOINT_URL: fauxqs.address });
  const checkout = startProcess('services/checkout/src/server.ts', {
    ...common, ...auth, PORT: String(checkoutPort), CATALOG_INTERNAL_URL: catalogUrl, AWS_ENDPOINT_URL: fauxqs.address,
  });
  const workerEnv = async () => ({
    NODE_ENV: 'production', LOG_LEVEL: 'warn', DATABASE_URL: db.url, AWS_ENDPOINT_URL: fauxqs.address, MESSAGING_PREFIX: '', PROBE_PORT: String(await freePort()),
    // as deployed: each PLACED is also announced on the Redis status feed
    REDIS_URL: redisUrl, CACHE_NAMESPACE: namespace,
  });
  let worker = startProcess('services/orders/src/worker.ts', await workerEnv());
  await Promise.all([
    waitUntil(catalog.process, `${catalogUrl}/health/ready answered 200`, answers200(`${catalogUrl}/health/ready`)),
    waitUntil(checkout.process, `${checkoutUrl}/health/ready answered 200`, answers200(`${checkoutUrl}/health/ready`)),
    waitUntil(worker.process, 'the orders-worker migrated its schema', async () => (await query(db.url, "select to_regclass('orders.orders') as t"))[0]?.t != null),
  ]);
  // The worker gives no readiness signal after migrating: a moment for it to bootstrap and start consuming (it
  // misses nothing either way, checkout's bootstrap has already created and subscribed the queue).
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  if (exited(worker.process)) throw new Error('the orders-worker exited at start');

  const products = await query(db.url, "select id from catalog.products where status = 'active' and stock > 0 and currency = 'USD' order by slug limit 3");
  if (products.length < 3) throw new Error('the demo catalog has fewer than 3 active USD products');
  const productIds = products.map((p) => p.id as string);
  const tokens = await Promise.all(Array.from({ length: CUSTOMERS }, (_, i) => idp.token(`bench-${i}`)));

  console.error('warm-up: one checkout per customer');
  const warm = await runLoad(checkoutUrl, tokens, productIds, 60, 1);
  console.error(`warm-up: ${warm.accepted.length} accepted; waiting for them to be persisted`);
  await waitForOrders(db.url, warm.accepted.length);

  console.error(`load: ${CUSTOMERS} customers for ${DURATION} s`);
  const load = await runLoad(checkoutUrl, tokens, productIds, DURATION);
  if (load.accepted.length === 0) throw new Error('no checkout was accepted during the load');
  console.error(`load: ${load.accepted.length} accepted; waiting for the intake to persist them`);
  const expected = warm.accepted.length + load.accepted.length;
  const drain = await waitForOrders(db.url, expected);
  const acceptedIds = [...warm.accepted, ...load.accepted];
  const distinct = new Set(acceptedIds);
  if (distinct.size !== acceptedIds.length) throw new Error(`checkout answered ${acceptedIds.length - distinct.size} duplicate order ids`);
  const present = (await query(db.url, 'select count(*)::int as n from orders.orders where id = any($1::uuid[])', [load.accepted]))[0]!.n as number;
  if (present !== load.accepted.length) throw new Error(`only ${present} of the ${load.accepted.length} accepted order ids are in orders.orders`);
  if (exited(worker.process) || exited(checkout.process) || exited(catalog.process)) throw new Error('a service exited during the run');

  const checkoutsPerSecond = load.accepted.length / (load.elapsedMs / 1000);
  const intakeSeconds = (drain.lastCreatedAt - load.firstAcceptedAt) / 1000;
  const intakePerSecond = load.accepted.length / intakeSeconds;
  const drainSeconds = Math.max(0, drain.lastCreatedAt - load.stoppedAt) / 1000;

  // Intake's own capacity: with the worker stopped, checkouts pile up in the queue; then a fresh worker drains
  // the backlog with nothing else running, timed from its first order written to its last.
  console.error('backlog: stopping the orders-worker and filling its queue');
  await worker.stop();
  const backlog = await runLoad(checkoutUrl, tokens, productIds, DURATION);
  if (backlog.accepted.length === 0) throw new Error('no checkout was accepted for the backlog');
  await Promise.all([checkout.stop(), catalog.stop()]);
  console.error(`backlog: ${backlog.accepted.length} orders queued; starting a fresh orders-worker`);
  worker = startProcess('services/orders/src/worker.ts', await workerEnv());
  await waitForOrders(db.url, expected + backlog.accepted.length);
  const span = (await query(db.url, 'select extract(epoch from max(created_at) - min(created_at)) * 1000 as ms from orders.orders where id = any($1::uuid[])', [backlog.accepted]))[0]!;
  const backlogPerSecond = backlog.accepted.length / (Number(span.ms) / 1000);
  // The same worker's outbox relay publishes each order's order.placed to SNS: how far behind the intake it ends.
  await waitUntil(worker.process, 'every order.placed of the backlog published', async () =>
    (await query(db.url, 'select count(*)::int as n from orders.outbox where published_at is null'))[0]!.n === 0);
  const relayed = (await query(db.url, `select extract(epoch from max(b.published_at) - min(o.created_at)) * 1000 as ms, count(*)::int as n
    from orders.outbox b join orders.orders o on o.id::text = b.subject where o.id = any($1::uuid[])`, [backlog.accepted]))[0]!;
  if (relayed.n !== backlog.accepted.length) throw new Error(`${relayed.n} order.placed rows in the outbox for ${backlog.accepted.length} backlog orders`);
  const relayedPerSecond = backlog.accepted.length / (Number(relayed.ms) / 1000);

  // The ceiling runs alone: the services are stopped (the worker's outbox relay would otherwise pick up pgbench's rows).
  console.error('stopping the services for pgbench');
  await worker.stop();
  const pgbench = await runPgbench(primaryUrl, db.name, DURATION);

  const settings = [process.env.BENCH_DURATION && `BENCH_DURATION=${DURATION}`, process.env.BENCH_CUSTOMERS && `BENCH_CUSTOMERS=${CUSTOMERS}`].filter(Boolean);
  const command = process.env.npm_lifecycle_event ? `pnpm ${process.env.npm_lifecycle_event}` : `node ${path.relative(process.cwd(), process.argv[1]!)}`;
  const ratio = backlogPerSecond / pgbench.tps;
  console.log([
    '## Checkout and order intake vs pgbench',
    '',
    `Command: \`${[...settings, command].join(' ')}\` (${CUSTOMERS} concurrent customers for ${DURATION} s, each looping: 3 untimed PUT /api/cart/items, then a timed POST /api/checkout; after a warm-up of one checkout each)`,
    `Machine: node ${process.version}, ${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? 'unknown CPU'}`,
    `Ceiling: \`${pgbench.command}\` on the same database, services stopped; one intake transaction (processed_events, orders with 3 jsonb lines, status_history, outbox envelope of ~${pgbench.envelopeBytes} B, pg_notify)`,
    '',
    '| measure | value |',
    '| --- | ---: |',
    `| checkouts accepted (202) | ${load.accepted.length} |`,
    `| checkouts/s | ${checkoutsPerSecond.toFixed(1)} |`,
    `| POST /api/checkout p50 ms | ${percentile(load.latenciesMs, 50).toFixed(1)} |`,
    `| POST /api/checkout p99 ms | ${percentile(load.latenciesMs, 99).toFixed(1)} |`,
    `| orders persisted while under load (all accepted ids present, none duplicated) | ${load.accepted.length} |`,
    `| intake orders/s while under load (first 202 → last order written, ${intakeSeconds.toFixed(1)} s) | ${intakePerSecond.toFixed(1)} |`,
    `| drain after load stopped s | ${drainSeconds.toFixed(1)} |`,
    `| **intake capacity**: backlog of ${backlog.accepted.length} orders drained by one worker, orders/s | ${backlogPerSecond.toFixed(1)} |`,
    `| the same worker's relay: every order.placed of the backlog published to SNS, orders/s (first order written → last published) | ${relayedPerSecond.toFixed(1)} |`,
    `| pgbench intake tps (${PGBENCH_CLIENTS} clients) | ${pgbench.tps.toFixed(1)} |`,
    `| intake capacity vs pgbench (aim ≥ 0.50) | ${ratio.toFixed(2)} |`,
    '',
    'Under load intake keeps pace with checkout (a drain near 0 s), so its rate there is checkout\'s; its capacity is the backlog drain.',
    'pgbench commits once per order; the intake commits once per received batch (up to 10 orders, one statement).',
  ].join('\n'));
}
await runBenchmark(main);

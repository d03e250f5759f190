/**
 * Pipeline benchmark: orders from POST /api/checkout to SHIPPED through every service and worker, and a flash-sale
 * spike that must lose, duplicate and double-charge nothing.
 *
 *   1. A fresh database (demo catalog, three products with ample stock), fauxqs and a test identity provider in
 *      this process; catalog, checkout, the orders-worker, fulfillment and notifications (local sink) as child
 *      processes on one topology.
 *   2. Steady: BENCH_RATE (5) orders/s, open loop, for BENCH_DURATION (20) s. Each order is a fresh customer:
 *      PUT one cart line, POST /api/checkout (a 503/429 is retried with the same Idempotency-Key after its
 *      Retry-After, as a client should). End-to-end latency = SHIPPED in status_history − the checkout's start.
 *      With BENCH_WORKERS=n, n processes of each worker consume the same queues.
 *   3. Spike: 20 × BENCH_RATE orders/s for 10 s, then wait until every accepted order is SHIPPED, its two
 *      notifications (confirmed, shipped) are delivered and every queue is empty: the drain time.
 *   4. Checks, whatever the figures: every order accepted; every accepted order SHIPPED; as many orders, captures,
 *      reservations and shipments as accepted order ids; two notifications per order; every DLQ empty.
 *
 * The baseline is checkout itself, in the same run: the rate at which it accepted the spike (first checkout → last
 * 202). The pipeline's pace is the rate at which it shipped the spike over the same kind of window (first SHIPPED →
 * last SHIPPED), reported as a ratio of it: 1.0 or more when the last order took no longer to ship than the first,
 * below 1.0 by as much as a backlog grew. The older figure, first checkout → last SHIPPED, is reported too; its
 * window holds one order's whole checkout → SHIPPED time besides the spike, so it stays below 1.0 even for a
 * pipeline that keeps up (10 s / (10 s + that time)).
 * Progress goes to stderr, the markdown report to stdout. The database is dropped at the end, whatever happens.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startFauxqs } from 'fauxqs';
import { createAwsClients } from '@securecart/messaging';
import { startTestIdentityProvider } from '@securecart/testing';
import {
  answers200, createBenchDatabase, exited, freePort, onCleanUp, percentile, query, requireEnv, runBenchmark, startProcess, waitUntil,
  type Child,
} from './lib/harness.ts';
import { openLoop, placeOrder } from './lib/orders.ts';
import { watchQueues } from './lib/queues.ts';

const RATE = Number(process.env.BENCH_RATE ?? 5);
const STEADY_SECONDS = Number(process.env.BENCH_DURATION ?? 20);
/** processes of each worker (orders-worker, fulfillment, notifications), as a scaled-out service runs tasks */
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1);
const SPIKE_FACTOR = 20;
const SPIKE_SECONDS = 10;
const DRAIN_DEADLINE_MS = 600_000;
async function main(): Promise<void> {
  const primaryUrl = requireEnv('TEST_DATABASE_URL');
  const redisUrl = requireEnv('TEST_REDIS_URL');
  console.error('creating and seeding a fresh database');
  const db = await createBenchDatabase(primaryUrl);
  const products = await query(db.url, "select id from catalog.products where status = 'active' and currency = 'USD' order by slug limit 3");
  const productIds = products.map((p) => p.id as string);
  await query(db.url, 'update catalog.products set stock = 10000000 where id = any($1::uuid[])', [productIds]);

  const fauxqs = await startFauxqs({ port: 0, logger: false });
  onCleanUp(() => fauxqs.stop());
  const idp = await startTestIdentityProvider();
  onCleanUp(() => idp.close());
  const sinkDir = await mkdtemp(path.join(os.tmpdir(), 'pipeline-bench-sink-'));
  onCleanUp(() => rm(sinkDir, { recursive: true, force: true }));

  const namespace = `bench-${randomBytes(4).toString('hex')}`;
  const auth = { AUTH_JWKS_URL: idp.jwksUrl, AUTH_ISSUER: idp.issuer, AUTH_AUDIENCE: idp.audience };
  const messaging = { AWS_ENDPOINT_URL: fauxqs.address, MESSAGING_PREFIX: '' };
  const common = { NODE_ENV: 'production', LOG_LEVEL: 'warn', HOST: '127.0.0.1', REDIS_URL: redisUrl, CACHE_NAMESPACE: namespace, RATE_LIMIT_MAX: '100000000' };
  const [catalogPort, checkoutPort] = [await freePort(), await freePort()];
  const catalogUrl = `http://127.0.0.1:${catalogPort}`;
  const checkoutUrl = `http://127.0.0.1:${checkoutPort}`;

  console.error('starting catalog, checkout, the orders-worker, fulfillment and notifications');
  const catalog = startProcess('services/catalog/src/server.ts', { ...common, ...auth, ...messaging, PORT: String(catalogPort), DATABASE_URL: db.url });
  const checkout = startProcess('services/checkout/src/server.ts', { ...common, ...auth, ...messaging, PORT: String(checkoutPort), CATALOG_INTERNAL_URL: catalogUrl });
  const worker = async (script: string, env: Record<string, string>) => {
    const probePort = await freePort();
    const child = startProcess(script, { ...common, ...messaging, DATABASE_URL: db.url, PROBE_PORT: String(probePort), ...env });
    return { child, ready: `http://127.0.0.1:${probePort}/health/ready` };
  };
  const workers = [];
  for (let n = 0; n < WORKERS; n++) {
    workers.push(
      await worker('services/orders/src/worker.ts', {}),
      await worker('services/fulfillment/src/worker.ts', {
        CATALOG_INTERNAL_URL: catalogUrl, FRAUD_VELOCITY_MAX: '1000000', FRAUD_MAX_ORDER_CENTS: '100000000',
      }),
      await worker('services/notifications/src/worker.ts', { NODE_ENV: 'development', NOTIFY_CHANNELS: 'local-sink', LOCAL_SINK_DIR: sinkDir }),
    );
  }
  const children: Child[] = [catalog, checkout, ...workers.map((w) => w.child)];
  await Promise.all([
    waitUntil(catalog.process, 'catalog ready', answers200(`${catalogUrl}/health/ready`)),
    waitUntil(checkout.process, 'checkout ready', answers200(`${checkoutUrl}/health/ready`)),
    ...workers.map((w) => waitUntil(w.child.process, `${w.ready} answered 200`, answers200(w.ready))),
  ]);

  const totalOrders = Math.round(RATE * STEADY_SECONDS) + Math.round(RATE * SPIKE_FACTOR * SPIKE_SECONDS) + 1;
  console.error(`minting ${totalOrders} customer tokens`);
  const tokens = await Promise.all(Array.from({ length: totalOrders }, (_, i) => idp.token(`bench-${namespace}-${i}`)));
  let next = 0;
  const order = (i: number) => placeOrder(checkoutUrl, tokens[next++]!, productIds[i % productIds.length]!);

  const clients = createAwsClients({ region: 'us-east-1', endpoint: fauxqs.address });
  onCleanUp(async () => clients.sqs.destroy());
  const queues = watchQueues(clients.sqs);

  /** Waits until every order is SHIPPED, has its two notifications, and every queue is empty; returns when. */
  const drained = async (ids: string[], notificationsBefore: number) => {
    const deadline = Date.now() + DRAIN_DEADLINE_MS;
    for (;;) {
      const rows = await query(db.url, "select status, count(*)::int as n, max(reason) as reason from orders.orders where id = any($1::uuid[]) group by status", [ids]);
      const bad = rows.filter((r) => !['PLACED', 'CONFIRMED', 'SHIPPED'].includes(r.status as string));
      if (bad.length > 0) throw new Error(`orders ended ${bad.map((r) => `${r.status} (${r.n}, e.g. ${r.reason})`).join(', ')}`);
      const shipped = Number(rows.find((r) => r.status === 'SHIPPED')?.n ?? 0);
      const notifications = (await readdir(sinkDir)).length - notificationsBefore;
      if (shipped === ids.length && notifications >= 2 * ids.length && (await queues.queues()).every((n) => n === 0)) return Date.now();
      if (children.some((c) => exited(c.process))) throw new Error('a service exited during the run');
      if (Date.now() > deadline) throw new Error(`only ${shipped} of ${ids.length} orders shipped (${notifications} notifications) within ${DRAIN_DEADLINE_MS / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };
  const shippedAt = async (ids: string[]) =>
    new Map(
      (await query(db.url, "select order_id, extract(epoch from at) * 1000 as at from orders.status_history where status = 'SHIPPED' and order_id = any($1::uuid[])", [ids])).map(
        (r) => [r.order_id as string, Number(r.at)],
      ),
    );

  console.error('warm-up: one order');
  const warm = await order(0);
  await drained([warm.orderId], 0);

  console.error(`steady: ${RATE} orders/s for ${STEADY_SECONDS} s`);
  const steady = await openLoop(RATE, STEADY_SECONDS, order);
  const steadyIds = steady.placed.map((p) => p.orderId);
  await drained(steadyIds, 2);
  const steadyShipped = await shippedAt(steadyIds);
  const steadyLatencies = steady.placed.map((p) => steadyShipped.get(p.orderId)! - p.startedAt);

  const spikeRate = RATE * SPIKE_FACTOR;
  console.error(`spike: ${spikeRate} orders/s for ${SPIKE_SECONDS} s`);
  const spikeStart = Date.now();
  const spike = await openLoop(spikeRate, SPIKE_SECONDS, order);
  const spikeAcceptedAt = Date.now();
  const spikeIds = spike.placed.map((p) => p.orderId);
  console.error(`spike: ${spikeIds.length} accepted; waiting for the pipeline to drain`);
  const spikeDrainedAt = await drained(spikeIds, 2 + 2 * steadyIds.length);
  const spikeShipped = await shippedAt(spikeIds);
  const lastShipped = Math.max(...spikeShipped.values());
  const firstShipped = Math.min(...spikeShipped.values());
  const spikeLatencies = spike.placed.map((p) => spikeShipped.get(p.orderId)! - p.startedAt);

  // Nothing lost, nothing twice.
  const all = [warm.orderId, ...steadyIds, ...spikeIds];
  if (new Set(all).size !== all.length) throw new Error('checkout answered the same order id twice');
  const [orders] = await query(db.url, 'select count(*)::int as n from orders.orders');
  const [captures] = await query(db.url, "select count(*)::int as n, count(distinct order_id)::int as orders from fulfillment.simulated_payments where operation = 'capture' and status = 'captured'");
  const [shipments] = await query(db.url, "select count(*)::int as n from fulfillment.simulated_shipments where status = 'created'");
  const [reservations] = await query(db.url, "select count(*)::int as n from catalog.reservations where status = 'COMMITTED'");
  const notifications = (await readdir(sinkDir)).length;
  const counts = { orders: orders.n, captures: captures.n, capturedOrders: captures.orders, shipments: shipments.n, reservations: reservations.n };
  for (const [what, n] of Object.entries(counts)) if (n !== all.length) throw new Error(`${n} ${what} for ${all.length} accepted orders`);
  if (notifications !== 2 * all.length) throw new Error(`${notifications} notifications for ${all.length} orders (2 each expected)`);
  const deadLetters = await queues.deadLetters();
  if (deadLetters.some((n) => n > 0)) throw new Error(`dead letters: ${deadLetters.join(', ')}`);
  await Promise.all(children.map((c) => c.stop()));

  const retries = [...steady.placed, ...spike.placed].reduce((sum, p) => sum + p.retries, 0);
  const spikeCapacity = spikeIds.length / ((lastShipped - spikeStart) / 1000);
  const spikeShippedPerSecond = spikeIds.length / ((lastShipped - firstShipped) / 1000);
  const checkoutSpikeRate = spike.acceptedPerSecond;
  const settings = [
    process.env.BENCH_RATE && `BENCH_RATE=${RATE}`, process.env.BENCH_DURATION && `BENCH_DURATION=${STEADY_SECONDS}`, process.env.BENCH_WORKERS && `BENCH_WORKERS=${WORKERS}`,
  ].filter(Boolean);
  const command = process.env.npm_lifecycle_event ? `pnpm ${process.env.npm_lifecycle_event}` : `node ${path.relative(process.cwd(), process.argv[1]!)}`;
  console.log([
    '## Pipeline: checkout → SHIPPED, steady and a 20× spike',
    '',
    `Command: \`${[...settings, command].join(' ')}\` (open loop: one fresh customer per order, one cart line, tok_approve; every service and worker a separate process, ${WORKERS} of each worker; fauxqs in the benchmark's process)`,
    `Machine: node ${process.version}, ${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? 'unknown CPU'}`,
    '',
    '| measure | value |',
    '| --- | ---: |',
    `| steady: orders offered (${RATE}/s for ${STEADY_SECONDS} s), all accepted and SHIPPED | ${steadyIds.length} |`,
    `| steady: checkout → SHIPPED p50 ms | ${percentile(steadyLatencies, 50).toFixed(0)} |`,
    `| steady: checkout → SHIPPED p99 ms | ${percentile(steadyLatencies, 99).toFixed(0)} |`,
    `| spike: orders offered (${spikeRate}/s for ${SPIKE_SECONDS} s; achieved ${spike.offeredPerSecond.toFixed(1)}/s), all accepted and SHIPPED | ${spikeIds.length} |`,
    `| spike: checkout accepted/s (the baseline) | ${checkoutSpikeRate.toFixed(1)} |`,
    `| spike: client retries after 503/429 (same Idempotency-Key) | ${retries} |`,
    `| spike: pipeline shipped/s, first SHIPPED → last SHIPPED | ${spikeShippedPerSecond.toFixed(1)} |`,
    `| **pipeline vs checkout** (shipped/s ÷ accepted/s) | ${(spikeShippedPerSecond / checkoutSpikeRate).toFixed(2)} |`,
    `| spike: first checkout → last SHIPPED, orders/s (and ÷ accepted/s; one order's latency longer than the spike) | ${spikeCapacity.toFixed(1)} (${(spikeCapacity / checkoutSpikeRate).toFixed(2)}) |`,
    `| spike: checkout → SHIPPED p50 / p99 ms | ${percentile(spikeLatencies, 50).toFixed(0)} / ${percentile(spikeLatencies, 99).toFixed(0)} |`,
    `| spike: time to drain (last 202 → every order SHIPPED, notified, queues empty) s | ${((spikeDrainedAt - spikeAcceptedAt) / 1000).toFixed(1)} |`,
    `| lost / duplicated orders, captures, reservations, shipments | 0 / 0 (${all.length} of each) |`,
    `| notifications (confirmed + shipped per order) | ${notifications} |`,
    `| dead letters | 0 |`,
  ].join('\n'));
}
await runBenchmark(main);

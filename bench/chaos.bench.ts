/**
 * Chaos benchmark: orders keep coming while the processes and servers under them are killed and stopped, and
 * afterwards nothing may be lost, duplicated, double-charged, oversold or left stuck. It measures how long each
 * fault takes to recover from (lib/recovery.ts defines ready, flowing and caught up).
 *
 *   1. Its own Postgres primary (initdb into a temporary folder; no replica) and its own Redis (keeping nothing on
 *      disk), so that it can stop them; a fresh database migrated and seeded as the other benchmarks do; fauxqs and a
 *      test identity provider in this process; catalog, checkout, the orders-worker, fulfillment, notifications
 *      (local sink) and orders as child processes, each writing its output to a log file (lib/process-stack.ts).
 *   2. Load: BENCH_RATE (10) checkouts/s, open loop, one fresh customer per order (a cart line, POST /api/checkout
 *      with an Idempotency-Key; a 503/429, a refused or a reset connection is retried with the same key), for as
 *      long as the faults take; every 20th ships to postal code 00000, which the carrier refuses after the payment
 *      was captured (the order must end REFUNDED, its capture voided). One second before fulfillment is killed, 100
 *      buyers race for a product with 10 units.
 *   3. Faults, CHAOS_SPACING (40) s apart, the first 20 s in: SIGKILL the orders-worker (restarted after 3 s);
 *      SIGKILL fulfillment (restarted after 3 s); stop the Postgres primary for 5 s (`pg_ctl -m CHAOS_PG_STOP`,
 *      `fast` by default: an operator's stop; `immediate` is a crash); stop Redis for 5 s (it comes back empty);
 *      SIGKILL checkout once a burst of checkouts is in flight (restarted after 3 s). A process that dies of
 *      anything else is restarted as an orchestrator would, and fails the run.
 *   4. Drain (CHAOS_DRAIN_DEADLINE, 300 s; what is still pending is printed if it expires), then the checks of
 *      lib/order-invariants.ts, empty queues and DLQs, and no process dead by itself.
 *
 * Progress goes to stderr, the markdown report to stdout; the exit code is 1 when a check fails. The services log at
 * CHAOS_LOG_LEVEL (warn). Everything is stopped and removed at the end, except the logs of a failed run (or with
 * CHAOS_KEEP_LOGS=1), whose folder is printed.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startFauxqs } from 'fauxqs';
import { createAwsClients, QUEUE_NAMES } from '@securecart/messaging';
import { startTestIdentityProvider, type TestIdentityProvider } from '@securecart/testing';
import { createBenchDatabase, onCleanUp, percentile, query, runBenchmark } from './lib/harness.ts';
import { checkOrders, FINAL_STATUSES, type Check } from './lib/order-invariants.ts';
import { CheckoutRefused, openLoop, placeOrder, type CheckoutObserver, type Placed } from './lib/orders.ts';
import { startStack, waitReady, type Stack } from './lib/process-stack.ts';
import { watchQueues, type QueueWatch } from './lib/queues.ts';
import { countsText, faultTable, recoveries, type FaultRun } from './lib/recovery.ts';
import { startPostgres, startRedis, type PostgresServer, type RedisServer } from './lib/servers.ts';

const RATE = Number(process.env.BENCH_RATE ?? 10);
const SPACING_S = Number(process.env.CHAOS_SPACING ?? 40);
const PG_STOP = process.env.CHAOS_PG_STOP === 'immediate' ? 'immediate' : 'fast';
const DRAIN_DEADLINE_MS = Number(process.env.CHAOS_DRAIN_DEADLINE ?? 300) * 1000;
const LOG_LEVEL = process.env.CHAOS_LOG_LEVEL ?? 'warn';
const KEEP_LOGS = process.env.CHAOS_KEEP_LOGS === '1';
const FIRST_FAULT_S = 20;
/** load after the last fault began: its recovery is measured under load too */
const TAIL_S = 30;
const FAULTS = 5;
const LOAD_S = FIRST_FAULT_S + (FAULTS - 1) * SPACING_S + TAIL_S;
const RESTART_AFTER_MS = 3_000;
const OUTAGE_MS = 5_000;
const RACE_BUYERS = 100;
const RACE_UNITS = 10;
/** every n-th ordinary order ships where the carrier refuses to deliver */
const UNDELIVERABLE_EVERY = 20;
/** checkouts started at once just before checkout is killed, so that some are in flight */
const BURST = 30;
const READY_DEADLINE_MS = 120_000;
/** a shopper keeps retrying one checkout this many times (backing off to 4 s while unreachable, Retry-After on 503) */
const MAX_RETRIES = 120;

interface Shopper {
  contested: boolean;
  undeliverable: boolean;
}

interface Outcomes {
  accepted: (Placed & Shopper)[];
  refused: string[];
  retries: { at: number; cause: string }[];
  /** POST /api/checkout requests sent and not yet answered */
  inFlight: number;
}

interface Load {
  t0: number;
  loadEnd: number;
  runs: FaultRun[];
  outcomes: Outcomes;
  offered: number;
}

type Fault = () => Promise<Omit<FaultRun, 'readyAt'>>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => (ms / 1000).toFixed(1);

/** SIGKILL a process with whatever it holds, start it again after 3 s. */
const killProcess = (stack: Stack, name: string, note = ''): Fault => async () => {
  const startedAt = Date.now();
  await stack.kill(name);
  await sleep(RESTART_AFTER_MS);
  stack.restart(name);
  return { name: `SIGKILL ${name}, restarted after ${RESTART_AFTER_MS / 1000} s`, startedAt, endedAt: Date.now(), note };
};

/** SIGKILL checkout once a burst of checkouts is in flight, start it again after 3 s. */
const killCheckoutInFlight = (stack: Stack, outcomes: Outcomes, burst: () => void): Fault => async () => {
  burst();
  const giveUp = Date.now() + 3_000;
  while (outcomes.inFlight < BURST / 3 && Date.now() < giveUp) await sleep(2);
  return killProcess(stack, 'checkout', `${outcomes.inFlight} POST /api/checkout in flight at the kill`)();
};

const stopPostgres = (pg: PostgresServer): Fault => async () => {
  const startedAt = Date.now();
  await pg.stop(PG_STOP);
  await sleep(OUTAGE_MS);
  await pg.start();
  return { name: `Postgres primary stopped (pg_ctl -m ${PG_STOP}) for ${OUTAGE_MS / 1000} s`, startedAt, endedAt: Date.now(), note: '' };
};

const stopRedis = (redis: RedisServer): Fault => async () => {
  const startedAt = Date.now();
  await redis.stop();
  await sleep(OUTAGE_MS);
  await redis.start();
  return { name: `Redis stopped for ${OUTAGE_MS / 1000} s (back empty)`, startedAt, endedAt: Date.now(), note: '' };
};

/** The load, the race and the faults on their schedule, all at once; returns when the last shopper has an answer. */
async function runLoad(stack: Stack, pg: PostgresServer, redis: RedisServer, tokens: string[], productIds: string[], contestedId: string): Promise<Load> {
  const checkoutUrl = `http://127.0.0.1:${stack.byName('checkout').env.PORT}`;
  const outcomes: Outcomes = { accepted: [], refused: [], retries: [], inFlight: 0 };
  const observer: CheckoutObserver = {
    sent: () => outcomes.inFlight++,
    settled: () => outcomes.inFlight--,
    retried: (cause) => outcomes.retries.push({ at: Date.now(), cause }),
  };
  let next = 0;
  const shop = (productId: string, shopper: Shopper) =>
    placeOrder(checkoutUrl, tokens[next++]!, productId, { outages: true, maxRetries: MAX_RETRIES, observer, ...(shopper.undeliverable ? { postalCode: '00000' } : {}) }).then(
      (placed) => void outcomes.accepted.push({ ...placed, ...shopper }),
      (error: unknown) => {
        if (!(error instanceof CheckoutRefused)) throw error;
        outcomes.refused.push(error.message);
      },
    );
  const ordinary = (i: number) => shop(productIds[i % productIds.length]!, { contested: false, undeliverable: i % UNDELIVERABLE_EVERY === UNDELIVERABLE_EVERY - 1 });
  const extra: Promise<void>[] = [];
  const at = (i: number) => FIRST_FAULT_S + i * SPACING_S;
  const faults: { at: number; name: string; run: Fault }[] = [
    { at: at(0), name: 'SIGKILL orders-worker', run: killProcess(stack, 'orders-worker') },
    { at: at(1), name: 'SIGKILL fulfillment', run: killProcess(stack, 'fulfillment') },
    { at: at(2), name: `stop the Postgres primary (${PG_STOP})`, run: stopPostgres(pg) },
    { at: at(3), name: 'stop Redis', run: stopRedis(redis) },
    { at: at(4), name: `SIGKILL checkout once a burst of ${BURST} checkouts is in flight`, run: killCheckoutInFlight(stack, outcomes, () => extra.push(...Array.from({ length: BURST }, (_, i) => ordinary(i)))) },
  ];
  const raceAt = at(1) - 1;
  console.error(`schedule (s into the load): ${RATE} checkouts/s for ${LOAD_S} s; ${faults.map((f) => `${f.at} ${f.name}`).join('; ')}; ${raceAt} ${RACE_BUYERS} buyers race for ${RACE_UNITS} units`);

  const t0 = Date.now();
  const runs: FaultRun[] = [];
  const runFaults = async () => {
    for (const fault of faults) {
      await sleep(t0 + fault.at * 1000 - Date.now());
      console.error(`${seconds(Date.now() - t0)} s: ${fault.name}`);
      const run = await fault.run();
      const readyAt = await waitReady(stack.services, Date.now() + READY_DEADLINE_MS);
      console.error(`${seconds(Date.now() - t0)} s: back after ${seconds(run.endedAt - run.startedAt)} s, every process ready ${seconds(readyAt - run.endedAt)} s later`);
      runs.push({ ...run, readyAt });
    }
  };
  const race = async () => {
    await sleep(t0 + raceAt * 1000 - Date.now());
    console.error(`${seconds(Date.now() - t0)} s: the race`);
    extra.push(...Array.from({ length: RACE_BUYERS }, () => shop(contestedId, { contested: true, undeliverable: false })));
  };
  const [load] = await Promise.all([openLoop(RATE, LOAD_S, ordinary), runFaults(), race()]);
  const loadEnd = Date.now();
  await Promise.all(extra);
  return { t0, loadEnd, runs, outcomes, offered: load.placed.length + extra.length };
}

/** What is not yet done: orders not final, accepted checkouts without an order, outbox rows, queued messages. */
async function pipelineState(url: string, accepted: string[], queues: QueueWatch): Promise<{ done: boolean; text: string }> {
  const [orders] = await query(url, `
    select count(*) filter (where status::text <> all($2::text[]))::int as open, count(*) filter (where id = any($1::uuid[]))::int as known
    from orders.orders`, [accepted, FINAL_STATUSES]);
  const [outbox] = await query(url, `
    select (select count(*) from catalog.outbox where published_at is null)::int as catalog,
           (select count(*) from orders.outbox where published_at is null)::int as orders,
           (select count(*) from fulfillment.outbox where published_at is null)::int as fulfillment`);
  const [held, dead] = await Promise.all([queues.queues(), queues.deadLetters()]);
  const missing = accepted.length - orders.known;
  const named = (counts: number[]) => QUEUE_NAMES.map((q, i) => `${q} ${counts[i]}`).join(', ');
  return {
    done: orders.open === 0 && missing === 0 && outbox.catalog + outbox.orders + outbox.fulfillment === 0 && held.every((n) => n === 0),
    text: `${orders.open} orders not final, ${missing} accepted checkouts without an order; unpublished outbox rows: catalog ${outbox.catalog}, orders ${outbox.orders}, fulfillment ${outbox.fulfillment}; queues: ${named(held)}; DLQs: ${named(dead)}`,
  };
}

/** Waits until the pipeline is done; returns when, or what was still pending at the deadline. */
async function waitForDrain(url: string, accepted: string[], queues: QueueWatch): Promise<{ at?: number; pending: string }> {
  const deadline = Date.now() + DRAIN_DEADLINE_MS;
  let reported = Date.now();
  for (;;) {
    const state = await pipelineState(url, accepted, queues).catch((error: unknown) => ({ done: false, text: `unreadable: ${(error as Error).message}` }));
    if (state.done) return { at: Date.now(), pending: '' };
    if (Date.now() > deadline) return { pending: state.text };
    if (Date.now() - reported > 10_000) {
      console.error(`draining: ${state.text}`);
      reported = Date.now();
    }
    await sleep(1_000);
  }
}

/** The queues, the dead-letter queues and the processes, beside the database's checks. */
async function checkQueuesAndProcesses(queues: QueueWatch, stack: Stack): Promise<Check[]> {
  const [held, dead] = await Promise.all([queues.queues(), queues.deadLetters()]);
  const named = (counts: number[]) => QUEUE_NAMES.flatMap((q, i) => (counts[i]! > 0 ? [`${q} ${counts[i]}`] : [])).join(', ') || 'none';
  return [
    { name: 'every queue empty', ok: held.every((n) => n === 0), detail: `holding messages: ${named(held)}` },
    { name: 'no dead letters', ok: dead.every((n) => n === 0), detail: `dead letters: ${named(dead)}` },
    { name: 'no process died but those the benchmark killed', ok: stack.unexpectedExits.length === 0, detail: stack.unexpectedExits.join(', ') || 'none' },
  ];
}

/** Waits until the order is SHIPPED: the pipeline works before anything is broken. */
async function shipped(url: string, orderId: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await query(url, "select 1 from orders.orders where id = $1 and status = 'SHIPPED'", [orderId])).length === 0) {
    if (Date.now() > deadline) throw new Error(`the warm-up order ${orderId} did not ship within 60 s`);
    await sleep(100);
  }
}

interface Findings {
  faults: string[];
  drain: { at?: number; pending: string };
  checks: Check[];
  statuses: Map<string, number>;
  contestedStatuses: Map<string, number>;
  /** checkout → SHIPPED of the ordinary orders that shipped before the first fault */
  baseline: number[];
}

function report(load: Load, findings: Findings): string {
  const { outcomes, t0, loadEnd } = load;
  const countOf = (values: string[]) => values.reduce((m, v) => m.set(v, (m.get(v) ?? 0) + 1), new Map<string, number>());
  const statuses = (m: Map<string, number>) => [...m].map(([k, n]) => `${n} ${k}`).join(', ');
  const settings = [
    process.env.BENCH_RATE && `BENCH_RATE=${RATE}`, process.env.CHAOS_SPACING && `CHAOS_SPACING=${SPACING_S}`, process.env.CHAOS_PG_STOP && `CHAOS_PG_STOP=${PG_STOP}`,
  ].filter(Boolean);
  const command = process.env.npm_lifecycle_event ? `pnpm ${process.env.npm_lifecycle_event}` : `node ${path.relative(process.cwd(), process.argv[1]!)}`;
  const { baseline, drain } = findings;
  return [
    '## Chaos: faults under load',
    '',
    `Command: \`${[...settings, command].join(' ')}\` (every service and worker a separate process; the benchmark's own Postgres, without a replica, and Redis; fauxqs, the load and the identity provider in the benchmark's process)`,
    `Machine: node ${process.version}, ${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? 'unknown CPU'}`,
    '',
    ...findings.faults,
    '',
    '| measure | value |',
    '| --- | ---: |',
    `| checkouts offered (${RATE}/s for ${seconds(loadEnd - t0)} s, a burst of ${BURST}, ${RACE_BUYERS} racing buyers) | ${load.offered} |`,
    `| accepted (202) | ${outcomes.accepted.length} |`,
    `| refused | ${outcomes.refused.length}${outcomes.refused.length > 0 ? ` (${countsText(countOf(outcomes.refused.map((m) => m.slice(0, 160))))})` : ''} |`,
    `| shoppers' retries with the same key | ${outcomes.retries.length} (${countsText(countOf(outcomes.retries.map((r) => r.cause)))}) |`,
    `| orders by final status | ${statuses(findings.statuses)} |`,
    `| race for ${RACE_UNITS} units: buyers accepted; their orders | ${outcomes.accepted.filter((p) => p.contested).length}; ${statuses(findings.contestedStatuses)} |`,
    `| checkout → SHIPPED of the orders shipped before the first fault, p50 / p99 ms | ${baseline.length > 0 ? `${percentile(baseline, 50).toFixed(0)} / ${percentile(baseline, 99).toFixed(0)}` : '–'} |`,
    `| drain: end of the load → every order final, outboxes and queues empty, s | ${drain.at === undefined ? `not within ${DRAIN_DEADLINE_MS / 1000} s: ${drain.pending}` : seconds(drain.at - loadEnd)} |`,
    '',
    '| check | result | figures |',
    '| --- | --- | --- |',
    ...findings.checks.map((c) => `| ${c.name} | ${c.ok ? 'pass' : '**FAIL**'} | ${c.detail.replaceAll('|', '\\|')} |`),
  ].join('\n');
}

const statusCounts = async (url: string, ids: string[]) =>
  new Map((await query(url, 'select status, count(*)::int as n from orders.orders where id = any($1::uuid[]) group by status order by status', [ids])).map((r) => [r.status as string, r.n as number]));

/** Everything after the stack is up: warm-up, the load under faults, the drain, the checks and the report. */
async function underChaos(stack: Stack, pg: PostgresServer, redis: RedisServer, url: string, idp: TestIdentityProvider, productIds: string[], contestedId: string): Promise<void> {
  const stockBefore = new Map((await query(url, 'select id, stock from catalog.products where id = any($1::uuid[])', [[...productIds, contestedId]])).map((r) => [r.id as string, Number(r.stock)]));
  const orders = Math.round(RATE * LOAD_S) + BURST + RACE_BUYERS + 1;
  console.error(`minting ${orders} customer tokens`);
  const namespace = randomBytes(4).toString('hex');
  const tokens = await Promise.all(Array.from({ length: orders }, (_, i) => idp.token(`chaos-${namespace}-${i}`)));

  console.error('warm-up: one order');
  const warm = await placeOrder(`http://127.0.0.1:${stack.byName('checkout').env.PORT}`, tokens.pop()!, productIds[0]!);
  await shipped(url, warm.orderId);
  const clients = createAwsClients({ region: 'us-east-1', endpoint: stack.byName('orders-worker').env.AWS_ENDPOINT_URL! });
  onCleanUp(async () => clients.sqs.destroy());
  const queues = watchQueues(clients.sqs);

  const load = await runLoad(stack, pg, redis, tokens, productIds, contestedId);
  const shoppers = [{ ...warm, contested: false, undeliverable: false }, ...load.outcomes.accepted];
  const accepted = shoppers.map((p) => p.orderId);
  console.error(`load done: ${load.outcomes.accepted.length} accepted, ${load.outcomes.refused.length} refused; waiting for the pipeline to drain`);
  const drain = await waitForDrain(url, accepted, queues);
  if (drain.pending) console.error(`not drained within ${DRAIN_DEADLINE_MS / 1000} s: ${drain.pending}`);

  const contested = shoppers.filter((p) => p.contested).map((p) => p.orderId);
  const undeliverable = shoppers.filter((p) => p.undeliverable).map((p) => p.orderId);
  const checks = [
    ...(await checkOrders(url, { accepted, contested, undeliverable, contestedProductId: contestedId, stockBefore })),
    ...(await checkQueuesAndProcesses(queues, stack)),
  ];
  const timed = load.outcomes.accepted.map((p) => ({ orderId: p.orderId, startedAt: p.startedAt, unusual: p.contested || p.undeliverable }));
  const recovered = await recoveries(url, load.runs, timed, load.outcomes.retries, load.loadEnd);
  const firstFault = load.runs[0]?.startedAt ?? load.loadEnd;
  const shippedAt = new Map((await query(url, "select order_id, extract(epoch from at) * 1000 as at from orders.status_history where status = 'SHIPPED' and order_id = any($1::uuid[])", [accepted])).map((r) => [r.order_id as string, Number(r.at)]));
  const baseline = timed.filter((o) => !o.unusual && (shippedAt.get(o.orderId) ?? Infinity) < firstFault).map((o) => shippedAt.get(o.orderId)! - o.startedAt);
  console.log(report(load, {
    faults: faultTable(load.runs, recovered, load.t0), drain, checks, baseline,
    statuses: await statusCounts(url, accepted), contestedStatuses: await statusCounts(url, contested),
  }));

  const failed = checks.filter((c) => !c.ok);
  if (failed.length > 0) throw new Error(`${failed.length} checks failed: ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ')}`);
}

async function main(): Promise<void> {
  const runDir = await mkdtemp(path.join(os.tmpdir(), 'chaos-bench-'));
  const logDir = path.join(runDir, 'logs');
  await mkdir(logDir);
  let passed = false;
  onCleanUp(async () => {
    if (passed && !KEEP_LOGS) return rm(runDir, { recursive: true, force: true });
    await rm(path.join(runDir, 'pgdata'), { recursive: true, force: true });
    console.error(`the processes' logs are kept in ${logDir}`);
  });

  console.error("starting a Postgres primary and a Redis of the benchmark's own");
  const pg = await startPostgres(runDir, logDir);
  const redis = await startRedis(logDir);
  const db = await createBenchDatabase(pg.url);
  const products = (await query(db.url, "select id from catalog.products where status = 'active' and currency = 'USD' order by slug limit 4")).map((p) => p.id as string);
  const productIds = products.slice(0, 3);
  const contestedId = products[3]!;
  await query(db.url, 'update catalog.products set stock = 10000000 where id = any($1::uuid[])', [productIds]);
  await query(db.url, 'update catalog.products set stock = $2 where id = $1', [contestedId, RACE_UNITS]);

  const fauxqs = await startFauxqs({ port: 0, logger: false });
  onCleanUp(() => fauxqs.stop());
  const idp = await startTestIdentityProvider();
  onCleanUp(() => idp.close());
  const sinkDir = path.join(runDir, 'sink');
  await mkdir(sinkDir);

  console.error('starting catalog, checkout, the orders-worker, fulfillment, notifications and orders');
  const stack = await startStack({
    databaseUrl: db.url, redisUrl: redis.url, awsEndpoint: fauxqs.address, sinkDir, logDir, logLevel: LOG_LEVEL,
    auth: { AUTH_JWKS_URL: idp.jwksUrl, AUTH_ISSUER: idp.issuer, AUTH_AUDIENCE: idp.audience },
  });
  try {
    await underChaos(stack, pg, redis, db.url, idp, productIds, contestedId);
    passed = true;
  } finally {
    stack.stopSupervising();
  }
}

await runBenchmark(main);

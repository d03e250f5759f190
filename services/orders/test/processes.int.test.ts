/**
 * The orders service's two entry points as real processes: the orders-worker takes work from the queue and stops
 * cleanly on SIGTERM; the HTTP server migrates, serves and drains; both refuse a bad configuration by name.
 */
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DeleteTopicCommand } from '@aws-sdk/client-sns';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, startProcess, startTestIdentityProvider, waitFor, type TestIdentityProvider } from '@securecart/testing';
import { bootstrapTopology } from '@securecart/messaging';
import { QueueTap, startTestMessaging, storedOrder, submittedEvent, type TestMessaging } from './harness.ts';

const infra = inject('infra');
const workerScript = fileURLToPath(new URL('../src/worker.ts', import.meta.url));
const serverScript = fileURLToPath(new URL('../src/server.ts', import.meta.url));
const cwd = fileURLToPath(new URL('../../..', import.meta.url));
let idp: TestIdentityProvider;
let messaging: TestMessaging;
let sql: pg.Pool;

beforeAll(async () => {
  idp = await startTestIdentityProvider();
  messaging = await startTestMessaging({ endpoint: infra.sqsEndpoint });
  sql = new pg.Pool({ connectionString: infra.databaseUrl });
});
afterAll(async () => {
  await sql?.end();
  await messaging?.close();
  await idp?.close();
});

/** `pnpm ops` as an operator runs it: a process of its own, with only the environment it is given */
function runOps(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['scripts/ops.ts', ...args], { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

let probePort = 0;
const workerEnv = () => ({
  PROBE_PORT: String(probePort),
  LOG_LEVEL: 'info',
  DATABASE_URL: infra.databaseUrl,
  AWS_ENDPOINT_URL: messaging.endpoint,
  MESSAGING_PREFIX: messaging.prefix,
  OUTBOX_POLL_MS: '100',
});

const serverEnv = (port: number) => ({
  PORT: String(port),
  HOST: '127.0.0.1',
  LOG_LEVEL: 'info',
  DATABASE_URL: infra.databaseUrl,
  DATABASE_READ_URL: infra.databaseReadUrl,
  REDIS_URL: infra.redisUrl,
  CACHE_NAMESPACE: `${infra.namespace}:orders-proc`,
  AUTH_JWKS_URL: idp.jwksUrl,
  AUTH_ISSUER: idp.issuer,
  AUTH_AUDIENCE: idp.audience,
});

describe('the orders-worker process', () => {
  it('places an order from the intake queue, relays order.placed, and on SIGTERM stops cleanly with exit code 0', async () => {
    const fulfillment = new QueueTap(messaging, 'fulfillment');
    probePort = await freePort();
    const proc = startProcess(workerScript, workerEnv(), cwd);
    try {
      await proc.waitForOutput(/orders-worker started/);
      const submitted = submittedEvent(`customer-${randomUUID()}`);
      const orderId = submitted.data.orderId;
      await messaging.publisher.publish(messaging.addresses.topicArns['checkout-events'], [submitted]);
      await waitFor(async () => (await storedOrder(sql, orderId)).order?.status === 'PLACED', { timeoutMs: 10_000, what: 'the order' });
      await waitFor(() => fulfillment.about(orderId, 'order.placed').length === 1, { timeoutMs: 10_000, what: 'order.placed' });
      // its probe: ready, and counting messages by type
      expect((await fetch(`http://127.0.0.1:${probePort}/health/ready`)).status).toBe(200);
      const metrics = await (await fetch(`http://127.0.0.1:${probePort}/metrics`)).text();
      expect(metrics).toMatch(/queue_messages_total\{[^}]*queue="orders-intake"[^}]*type="com.securecart.order.submitted"[^}]*outcome="handled"[^}]*\} [1-9]/);
      expect(metrics).toMatch(/outbox_events\{[^}]*outcome="published"[^}]*\} [1-9]/);

      proc.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      expect(proc.output()).toMatch(/shutting down/);
      expect(proc.output()).toMatch(/shut down cleanly/);
    } finally {
      proc.kill('SIGKILL');
      await fulfillment.stop();
    }
  });

  it('killed (SIGKILL) while it drains a backlog in batches, a new process places every order exactly once, each with one order.placed', async () => {
    const customer = `customer-${randomUUID()}`;
    const submissions = Array.from({ length: 1_500 }, () => submittedEvent(customer));
    const topic = messaging.addresses.topicArns['checkout-events'];
    for (let i = 0; i < submissions.length; i += 100) await messaging.publisher.publish(topic, submissions.slice(i, i + 100));
    // a few delivered twice, as SQS may do
    await messaging.publisher.publish(topic, submissions.slice(0, 20));
    const placed = async () =>
      (await sql.query('select count(*)::int as n from orders.orders where customer_id = $1', [customer])).rows[0].n as number;

    probePort = await freePort();
    const env = { ...workerEnv(), VISIBILITY_TIMEOUT_SECONDS: '2' };
    const first = startProcess(workerScript, env, cwd);
    let killedAt: number;
    try {
      await waitFor(async () => (await placed()) >= 100, { timeoutMs: 20_000, intervalMs: 10, what: 'the first orders' });
      first.kill('SIGKILL');
      await first.exited;
      killedAt = await placed();
    } finally {
      first.kill('SIGKILL');
    }
    expect(killedAt).toBeLessThan(submissions.length); // it died mid-drain, with batches in flight

    probePort = await freePort();
    const second = startProcess(workerScript, env, cwd);
    try {
      await waitFor(async () => (await placed()) === submissions.length, { timeoutMs: 60_000, what: `all ${submissions.length} orders (${killedAt} before the kill)` });
      // the messages in flight at the kill come back after their visibility timeout; a duplicate would be placed by now
      await waitFor(async () => {
        const { rows } = await sql.query('select count(*)::int as n from orders.outbox where subject = any($1::text[]) and published_at is null', [submissions.map((s) => s.data.orderId)]);
        return rows[0].n === 0;
      }, { timeoutMs: 20_000, what: 'every order.placed relayed' });
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const ids = submissions.map((s) => s.data.orderId);
      const counts = await sql.query(`select
          (select count(*)::int from orders.orders where id = any($1::uuid[])) as orders,
          (select count(*)::int from orders.status_history where order_id = any($1::uuid[])) as history,
          (select count(*)::int from orders.outbox where subject = any($2::text[])) as outbox,
          (select count(distinct subject)::int from orders.outbox where subject = any($2::text[])) as outbox_orders`, [ids, ids]);
      expect(counts.rows[0]).toEqual({ orders: 1_500, history: 1_500, outbox: 1_500, outbox_orders: 1_500 });
      second.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    } finally {
      second.kill('SIGKILL');
    }
  }, 120_000);

  it('starts and places orders while Redis does not answer (live streams then see status changes by polling)', async () => {
    probePort = await freePort();
    const proc = startProcess(workerScript, { ...workerEnv(), REDIS_URL: `redis://127.0.0.1:${await freePort()}` }, cwd);
    try {
      await proc.waitForOutput(/orders-worker started/);
      expect(proc.output()).toMatch(/Redis unreachable at start/);
      const submitted = submittedEvent(`customer-${randomUUID()}`);
      await messaging.publisher.publish(messaging.addresses.topicArns['checkout-events'], [submitted]);
      await waitFor(async () => (await storedOrder(sql, submitted.data.orderId)).order?.status === 'PLACED', { timeoutMs: 10_000, what: 'the order' });
      proc.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
    } finally {
      proc.kill('SIGKILL');
    }
  });

  it('an order.placed that SNS refuses goes dead without holding up the rest; `pnpm ops outbox` shows it and, once the cause is fixed, retries it', async () => {
    const fulfillment = new QueueTap(messaging, 'fulfillment');
    probePort = await freePort();
    const proc = startProcess(workerScript, { ...workerEnv(), OUTBOX_MAX_ATTEMPTS: '2' }, cwd);
    const ops = (...args: string[]) => runOps(args, { DATABASE_URL: infra.databaseUrl });
    try {
      await proc.waitForOutput(/orders-worker started/);
      // the cause: order-events is deleted under the running worker (a topic removed by hand, a wrong ARN)
      const orderEvents = messaging.addresses.topicArns['order-events'];
      await messaging.clients.sns.send(new DeleteTopicCommand({ TopicArn: orderEvents }));
      const submitted = submittedEvent(`customer-${randomUUID()}`);
      const orderId = submitted.data.orderId;
      await messaging.publisher.publish(messaging.addresses.topicArns['checkout-events'], [submitted]);
      await waitFor(async () => (await storedOrder(sql, orderId)).order?.status === 'PLACED', { timeoutMs: 10_000, what: 'the order' });
      const eventId = (await sql.query(`select id from orders.outbox where subject = $1 and type = 'com.securecart.order.placed'`, [orderId])).rows[0].id as string;
      await waitFor(async () => (await sql.query('select dead_at from orders.outbox where id = $1', [eventId])).rows[0].dead_at !== null, { timeoutMs: 10_000, what: 'the event to be dead' });
      expect(proc.output()).toMatch(/SNS refused the event; it is tried again later/);
      expect(proc.output()).toMatch(/outbox: event is dead; it waits for an operator/);
      const metrics = await (await fetch(`http://127.0.0.1:${probePort}/metrics`)).text();
      expect(Number(/^outbox_dead_events(?:\{[^}]*\})? (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);

      // the worker is still healthy and still places orders: intake does not wait on its outbox
      const next = submittedEvent(`customer-${randomUUID()}`);
      await messaging.publisher.publish(messaging.addresses.topicArns['checkout-events'], [next]);
      await waitFor(async () => (await storedOrder(sql, next.data.orderId)).order?.status === 'PLACED', { timeoutMs: 10_000, what: 'the next order' });
      expect((await fetch(`http://127.0.0.1:${probePort}/health/ready`)).status).toBe(200);

      // the operator: list, show (with SNS's answer), then fix the cause and retry this event
      const listed = await ops('outbox', 'list', '--json');
      expect(listed.code).toBe(0);
      expect(JSON.parse(listed.stdout).outboxes).toContainEqual(expect.objectContaining({ schema: 'orders', dead: expect.any(Number) }));
      expect(JSON.parse(listed.stdout).outboxes.find((o: { schema: string }) => o.schema === 'orders').dead).toBeGreaterThanOrEqual(1);
      const shown = await ops('outbox', 'show', 'orders', '--limit', '100');
      expect(shown.code).toBe(0);
      expect(shown.stdout).toContain(`id ${eventId}`);
      expect(shown.stdout).toMatch(/DEAD since .* attempts 2/);
      expect(shown.stdout).toMatch(/last error: NotFound/);
      await bootstrapTopology(messaging.clients, { prefix: messaging.prefix });
      const retried = await ops('outbox', 'retry', 'orders', '--id', eventId);
      expect(retried).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Put 1 dead event of the orders outbox back in line/) });
      await waitFor(() => fulfillment.about(orderId, 'order.placed').length === 1, { timeoutMs: 10_000, what: 'the retried order.placed' });
      expect((await sql.query('select published_at is not null as published, attempts from orders.outbox where id = $1', [eventId])).rows[0]).toEqual({ published: true, attempts: 0 });
      // retrying it again: it is not dead any more
      expect(await ops('outbox', 'retry', 'orders', '--id', eventId)).toMatchObject({ code: 1, stdout: expect.stringContaining(`Not dead (published, waiting, or no such id): ${eventId}`) });
    } finally {
      proc.kill('SIGKILL');
      await fulfillment.stop();
      await bootstrapTopology(messaging.clients, { prefix: messaging.prefix });
    }
  });

  it('`pnpm ops outbox` exits 2 on bad usage, naming the problem, and 1 when the database cannot be reached', async () => {
    const cases: [string[], RegExp][] = [
      [['outbox'], /outbox needs a command: list, show or retry/],
      [['outbox', 'show'], /outbox show needs a schema: catalog, orders, fulfillment/],
      [['outbox', 'retry', 'notifications'], /unknown outbox "notifications"; the outboxes are: catalog, orders, fulfillment/],
      [['outbox', 'retry', 'orders', '--id', 'nope'], /--id must be an event id/],
      [['outbox', 'list', '--limit', '3'], /--limit does not apply to outbox list/],
      [['outbox', 'show', 'orders', '--id', randomUUID()], /--id does not apply to outbox show/],
    ];
    for (const [args, message] of cases) {
      const result = await runOps(args, { DATABASE_URL: infra.databaseUrl });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(message);
    }
    expect(await runOps(['outbox', 'list'], {})).toMatchObject({ code: 2, stderr: expect.stringMatching(/DATABASE_URL/) });
    const unreachable = await runOps(['outbox', 'list'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:9/postgres' });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^ops: .*ECONNREFUSED.*\(the database at DATABASE_URL\)$/m);
  });

  it('refuses to start in AWS mode without Copilot’s queue and topic, naming the variables', async () => {
    const { AWS_ENDPOINT_URL: _omit, ...rest } = workerEnv();
    const proc = startProcess(workerScript, { ...rest, OUTBOX_POLL_MS: 'soon' }, cwd);
    expect(await proc.exited).toBe(1);
    const output = proc.output();
    expect(output).toContain('orders-worker: Invalid configuration');
    expect(output).toContain('OUTBOX_POLL_MS must be integer (got "soon")');
    const again = startProcess(workerScript, rest, cwd);
    expect(await again.exited).toBe(1);
    expect(again.output()).toContain('COPILOT_QUEUE_URI is required unless AWS_ENDPOINT_URL is set');
    expect(again.output()).toContain('COPILOT_SNS_TOPIC_ARNS is required unless AWS_ENDPOINT_URL is set');
    expect(again.output()).toContain('COPILOT_TOPIC_QUEUE_URIS must name the orders-fulfillment-updates queue unless AWS_ENDPOINT_URL is set');
    expect(again.output()).not.toMatch(/at .*\.ts:\d+/);
  });
});

describe('the orders HTTP process', () => {
  it('migrates, becomes ready, serves orders, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const proc = startProcess(serverScript, serverEnv(port), cwd);
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => undefined))?.status === 200, {
        timeoutMs: 20_000,
        what: 'the server to be ready',
      });
      const token = await idp.token(`customer-${randomUUID()}`);
      const list = await fetch(`http://127.0.0.1:${port}/api/orders`, { headers: { authorization: `Bearer ${token}` } });
      expect(list.status).toBe(200);
      expect(await list.json()).toEqual({ items: [], nextCursor: null });
      proc.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      expect(proc.output()).toMatch(/shut down cleanly/);
    } finally {
      proc.kill('SIGKILL');
    }
  });

  it('refuses to start on a bad configuration value, naming the variable and the reason', async () => {
    const proc = startProcess(serverScript, { ...serverEnv(1), PORT: 'eighty', DATABASE_URL: 'mysql://nope' }, cwd);
    expect(await proc.exited).toBe(1);
    const output = proc.output();
    expect(output).toContain('orders: Invalid configuration');
    expect(output).toContain('PORT must be integer (got "eighty")');
    expect(output).toContain('DATABASE_URL must be a URL starting with postgres:// or postgresql://');
  });
});

/**
 * The product promise, swept through the edge: bad input gets a clear 4xx problem response and changes nothing; no
 * request produces a 500. Embedded mode runs on the test run's Postgres (primary + replica) and Redis, with fauxqs
 * for SNS/SQS and an identity provider whose key the test holds (so it can sign expired tokens and tokens for another
 * audience with the key the services trust). Every public route of the API then gets a few thousand hostile requests
 * generated from a seed (hostile-input.ts), and each answer must be < 500, a problem when it is a 4xx, and a 4xx
 * when the request was certainly invalid. The sweep sends only requests that must change nothing, so the counts and
 * digests of orders, outboxes, products and stock, the carts and idempotency records in Redis, and the messages
 * published must be the same after it as before.
 *
 * FUZZ_SEED=<n> (or `random`) repeats (or varies) the sweep; FUZZ_SAMPLES=<n> sets how many requests each route gets
 * per generated class (default 20).
 */
import { Agent, request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectRedis } from '@securecart/cache';
import { createScratchDatabase, freePort, waitFor } from '@securecart/testing';
import { loadEmbeddedConfig } from '../src/config.ts';
import { startEmbedded } from '../src/embedded.ts';
import { generateSweep, hostileAuthorizations, Rng, signingIdentityProvider, type HostileRequest, type SweepWorld } from './hostile-input.ts';

const infra = inject('infra');
const DEFAULT_SEED = 20_251_122;
const seed = process.env.FUZZ_SEED === 'random' ? Math.floor(Math.random() * 2 ** 32) : Number(process.env.FUZZ_SEED ?? DEFAULT_SEED);
const samples = Number(process.env.FUZZ_SAMPLES ?? 20);
const CONCURRENCY = 16;
const REQUEST_TIMEOUT_MS = 15_000;

const namespace = `${infra.namespace}:hostile`;
const cleanups: (() => unknown)[] = [];
let base: string;
let fauxqs: FauxqsServer;
let sql: pg.Client;
let redis: Redis;
let world: SweepWorld;

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
cleanups.push(() => agent.destroy());

/** Sends a request exactly as given (method, raw path, headers, bytes): fetch would normalise or refuse much of it. */
function send(request: Pick<HostileRequest, 'method' | 'path' | 'headers' | 'body'>): Promise<Answer | { error: string }> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const headers: Record<string, string> = { ...request.headers };
    if (request.body) headers['content-length'] = String(request.body.length);
    let req: ReturnType<typeof httpRequest>;
    try {
      req = httpRequest({ host: url.hostname, port: url.port, method: request.method, path: request.path, headers, agent, timeout: REQUEST_TIMEOUT_MS });
    } catch (error) {
      resolve({ error: `the client could not send it: ${(error as Error).message}` });
      return;
    }
    req.on('response', (res) => {
      const contentType = String(res.headers['content-type'] ?? '');
      if (contentType.startsWith('text/event-stream')) {
        // a stream that opened: a read, and it would never end by itself
        res.destroy();
        resolve({ status: res.statusCode!, contentType, body: '' });
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, contentType, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (error) => resolve({ error: `the response broke off: ${error.message}` }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    // The server may answer (413, 401) and close before a large body is written: the answer still counts.
    req.on('error', (error) => resolve({ error: error.message }));
    req.end(request.body);
  });
}

/** What is wrong with an answer, if anything. */
function breach(request: HostileRequest, answer: Answer | { error: string }): string | undefined {
  if ('error' in answer) return `no answer (${answer.error})`;
  const { status, contentType, body } = answer;
  if (status >= 500) return `${status}: ${body.slice(0, 300)}`;
  if (request.mustReject && status < 400) return `${status} for a request that is certainly invalid: ${body.slice(0, 200)}`;
  if (status < 400) return undefined;
  if (!contentType.startsWith('application/problem+json')) return `${status} as ${contentType || 'no content type'}, not a problem: ${body.slice(0, 200)}`;
  let problem: { status?: unknown; title?: unknown };
  try {
    problem = JSON.parse(body) as typeof problem;
  } catch {
    return `${status} problem whose body is not JSON: ${body.slice(0, 200)}`;
  }
  if (problem.status !== status) return `${status} problem that says status ${String(problem.status)}`;
  if (typeof problem.title !== 'string' || problem.title === '') return `${status} problem without a title`;
  return undefined;
}

async function call(method: string, route: string, authorization?: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${route}`, {
    method,
    headers: { ...(authorization ? { authorization } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function scan(pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  return keys.sort();
}

/** Everything a request could change: counts and digests of the tables, the carts, the idempotency records, what was published. */
async function state() {
  const { rows } = await sql.query(`
    select
      (select count(*)::int from orders.orders) as orders,
      (select md5(coalesce(string_agg(o::text, '|' order by o.id), '')) from orders.orders o) as orders_digest,
      (select count(*)::int from orders.status_history) as status_history,
      (select count(*)::int from orders.outbox) as orders_outbox,
      (select count(*)::int from catalog.products) as products,
      (select sum(stock)::bigint::text from catalog.products) as stock,
      (select md5(string_agg(p::text, '|' order by p.id)) from catalog.products p) as products_digest,
      (select count(*)::int from catalog.categories) as categories,
      (select count(*)::int from catalog.outbox) as catalog_outbox,
      (select count(*)::int from catalog.reservations) as reservations`);
  const carts: Record<string, Record<string, string>> = {};
  for (const key of await scan(`${namespace}:cart:*`)) carts[key] = await redis.hgetall(key);
  // as a customer sees them, too (the first two customers' carts: the sweep spares their rate limit enough for this)
  const cartsSeen = await Promise.all(world.customers.slice(0, 2).map(async (customer) => (await call('GET', '/api/cart', customer)).body));
  return {
    ...rows[0],
    carts,
    cartsSeen,
    idempotencyRecords: (await scan(`${namespace}:idem:*`)).length,
    published: fauxqs.spy.getAllMessages().filter((m) => m.service === 'sns').length,
  };
}

/** Every outbox relayed: what the setup (or the sweep) wrote has been published by the time this returns. */
async function outboxesRelayed(): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await sql.query(`
        select (select count(*) from catalog.outbox where published_at is null)
             + (select count(*) from orders.outbox where published_at is null)
             + (select count(*) from fulfillment.outbox where published_at is null) as n`);
      return Number(rows[0].n) === 0;
    },
    { timeoutMs: 20_000, intervalMs: 100, what: 'every outbox to be relayed' },
  );
}

beforeAll(async () => {
  const scratch = await createScratchDatabase(infra, 'hostile');
  cleanups.push(() => scratch.drop());
  fauxqs = await startFauxqs({ port: 0, logger: false, messageSpies: { bufferSize: 100_000 } });
  cleanups.push(() => fauxqs.stop());
  const dataDir = mkdtempSync(path.join(tmpdir(), 'securecart-hostile-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));

  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const idp = signingIdentityProvider(`http://localhost:${port}`, 'securecart');
  const config = loadEmbeddedConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    CATALOG_PORT: String(await freePort()),
    CHECKOUT_PORT: String(await freePort()),
    ORDERS_PORT: String(await freePort()),
    DATA_DIR: dataDir,
    DATABASE_URL: scratch.databaseUrl,
    DATABASE_READ_URL: scratch.databaseReadUrl,
    REDIS_URL: infra.redisUrl,
    AWS_ENDPOINT_URL: fauxqs.address,
    CACHE_NAMESPACE: namespace,
    // a fault is logged with its stack; the hostile requests themselves are logged at info
    LOG_LEVEL: 'error',
  });
  const running = await startEmbedded(config, { idp });
  // after the edge and apps are closed, the cleanups above (fauxqs, the database) go
  cleanups.push(() => running.stop());

  sql = new pg.Client({ connectionString: scratch.databaseUrl });
  await sql.connect();
  cleanups.push(() => sql.end());
  redis = await connectRedis(infra.redisUrl, { name: 'hostile-input-test' });
  cleanups.push(() => redis.disconnect());

  // The world the sweep must leave as it is: a product in every customer's cart, and orders that could still be
  // cancelled and refunded (postal code 00001: the simulated carrier keeps saying "try later", so they stay CONFIRMED).
  // Several of each, so that no one of them meets its rate limit (per customer, shared by the services).
  const bearer = async (sub: string, groups: string[] = []) => `Bearer ${(await idp.mint({ sub, groups })).accessToken}`;
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const admins = await Promise.all(range(5).map((i) => bearer(`hostile-admin-${i}`, ['admin'])));
  const customers = await Promise.all(range(10).map((i) => bearer(`hostile-customer-${i}`)));
  const owners = await Promise.all(range(3).map((i) => bearer(`hostile-owner-${i}`)));
  const suffix = Date.now().toString(36);
  const product = await call('POST', '/api/catalog/products', admins[0], {
    sku: `HOSTILE-${suffix}`, slug: `hostile-${suffix}`, name: `Hostile target ${suffix}`, priceCents: 1_250, category: 'misc', stock: 1_000,
  });
  expect(product.status).toBe(201);
  const productId = product.body.id as string;
  const orders = await Promise.all(owners.map(async (owner) => {
    expect((await call('PUT', `/api/cart/items/${productId}`, owner, { quantity: 1 })).status).toBe(200);
    const checkout = await call('POST', '/api/checkout', owner, {
      shippingAddress: { name: 'Olive Owner', line1: '1 Main St', city: 'Springfield', postalCode: '00001', country: 'US' },
      paymentToken: 'tok_approve',
      contact: {},
    }, { 'idempotency-key': `hostile-setup-${suffix}` });
    expect(checkout.status).toBe(202);
    const id = checkout.body.orderId as string;
    await waitFor(async () => (await call('GET', `/api/orders/${id}`, owner)).body.status === 'CONFIRMED', {
      timeoutMs: 30_000, intervalMs: 200, what: `setup order ${id} to be CONFIRMED`,
    });
    return { id, owner };
  }));
  for (const customer of customers) expect((await call('PUT', `/api/cart/items/${productId}`, customer, { quantity: 2 })).status).toBe(200);
  world = {
    productId,
    productSlug: `hostile-${suffix}`,
    orders,
    customers,
    admins,
    notQuiteAdmins: [
      `Bearer ${idp.sign({ sub: 'hostile-pretender', 'cognito:groups': 'admin' })}`,
      `Bearer ${idp.sign({ sub: 'hostile-pretender', 'cognito:groups': ['Admin', 'admin '] })}`,
    ],
    badAuthorizations: hostileAuthorizations(idp, customers[1]!.slice('Bearer '.length)),
  };
  await outboxesRelayed();
}, 120_000);

describe('hostile input through the edge', () => {
  it('gets a 4xx problem, never a 5xx, and changes nothing', async () => {
    const rng = new Rng(seed);
    const requests = generateSweep(rng, world, samples);
    // interleaved, as hostile traffic would be (and so no one customer meets its rate limit)
    for (let i = requests.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [requests[i], requests[j]] = [requests[j]!, requests[i]!];
    }

    const before = await state();
    const started = Date.now();
    const breaches: { kind: string; what: string; example: string }[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < requests.length) {
          const request = requests[next++]!;
          const answer = await send(request);
          if (!('error' in answer)) statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          const wrong = breach(request, answer);
          if (wrong) {
            breaches.push({
              kind: request.kind,
              what: wrong.replace(/: .*/s, '').slice(0, 80),
              example: `[${request.kind}] ${request.label}\n      ${request.method} ${request.path.slice(0, 160)} → ${wrong}`,
            });
          }
        }
      }),
    );
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const kinds = new Set(requests.map((r) => r.kind));
    const histogram = [...statuses].sort(([a], [b]) => a - b).map(([status, n]) => `${status}×${n}`).join(' ');
    console.log(`hostile-input sweep: FUZZ_SEED=${seed}, ${requests.length} requests of ${kinds.size} classes in ${seconds} s; answers ${histogram}`);

    const repeat = `(repeat with FUZZ_SEED=${seed} FUZZ_SAMPLES=${samples})`;
    const tally = new Map<string, number>();
    for (const { kind, what } of breaches) tally.set(`${kind}: ${what}`, (tally.get(`${kind}: ${what}`) ?? 0) + 1);
    const report = [...tally].sort(([, a], [, b]) => b - a).map(([key, n]) => `${String(n).padStart(5)} × ${key}`);
    // one example of each kind of breach first, then the rest
    const firsts = [...new Map(breaches.map((b) => [`${b.kind}: ${b.what}`, b.example])).values()];
    expect.soft(
      breaches.map((b) => b.example),
      `${breaches.length} of ${requests.length} hostile requests broke the contract ${repeat}:\n${report.join('\n')}\n\nfor example:\n  ${firsts.slice(0, 40).join('\n  ')}\n`,
    ).toEqual([]);
    // rate limits answer 429 problems, which are fine, but a sweep that mostly meets them tests nothing
    expect(statuses.get(429) ?? 0, `too many requests were rate limited ${repeat}`).toBeLessThan(requests.length * 0.02);

    await outboxesRelayed();
    expect(await state(), `the hostile requests changed something ${repeat}`).toEqual(before);
  }, 180_000);
});

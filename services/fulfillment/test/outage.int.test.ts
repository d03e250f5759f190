/**
 * Nothing is stranded by a short outage of the Postgres primary. The worker reaches Postgres through a TCP proxy
 * the test can cut (connections dropped and refused, as when the server stops), and its catalog through a proxy
 * that holds stock reservations for a while, so the outage starts in the middle of a step, with the saga's lease
 * taken. The saga's progress, the release of its lease and the message's first retries all fail; the next delivery
 * of the same message takes the lease over and the order ships, once. A saga whose message is gone altogether is
 * found and resumed by the worker itself.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { drizzle } from 'drizzle-orm/node-postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestIdentityProvider, TcpProxy, waitFor, type TestIdentityProvider } from '@securecart/testing';
import { loadFulfillmentConfig } from '../src/config.ts';
import { createEvent } from '@securecart/messaging';
import { findSaga, LeaseLost, saveSaga, startSaga } from '../src/db/sagas-repo.ts';
import { startFulfillmentWorker } from '../src/worker.ts';
import { placedEvent, startFulfillmentRig, type FulfillmentRig } from './harness.ts';

const infra = inject('infra');
let idp: TestIdentityProvider;
let rig: FulfillmentRig;

beforeAll(async () => {
  idp = await startTestIdentityProvider();
  rig = await startFulfillmentRig(infra, idp);
});
afterAll(async () => {
  await rig?.close();
  await idp?.close();
});

/** The catalog, with each stock reservation held `delayMs` before it is passed on; `reserving` resolves at the first. */
async function slowReservations(target: string, delayMs: number) {
  let started!: () => void;
  const reserving = new Promise<void>((resolve) => (started = resolve));
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const slow = req.method === 'POST' && /\/internal\/reservations/.test(req.url ?? '');
      if (slow) started();
      setTimeout(() => {
        fetch(`${target}${req.url}`, { method: req.method, headers: { 'content-type': 'application/json' }, ...(chunks.length ? { body: Buffer.concat(chunks) } : {}) })
          .then(async (upstream) => res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await upstream.arrayBuffer())))
          .catch(() => res.writeHead(502).end());
      }, slow ? delayMs : 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, reserving, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const deadLetters = async () => {
  const attributes = await rig.messaging.clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: rig.messaging.addresses.deadLetterQueueUrls.fulfillment, AttributeNames: ['ApproximateNumberOfMessages'] }),
  );
  return Number(attributes.Attributes?.ApproximateNumberOfMessages ?? 0);
};

describe('a short outage of the primary', () => {
  it('in the middle of a step strands nothing: the next delivery of the message takes its lease over, and the order ships once', async () => {
    const database = await TcpProxy.forUrl(infra.databaseUrl).start();
    const catalog = await slowReservations(rig.catalogUrl, 1_500);
    // a lease longer than the whole retry schedule (1, 2, 4, 8 s): only a take-over by the same message can finish
    // in time; a lease that had to run out would send the message to the DLQ after its fifth receive
    const worker = await startFulfillmentWorker(
      loadFulfillmentConfig(rig.workerEnv({ DATABASE_URL: database.rewrite(infra.databaseUrl), CATALOG_INTERNAL_URL: catalog.url, VISIBILITY_TIMEOUT_SECONDS: '60' })),
    );
    try {
      const product = await rig.product(5);
      const placed = placedEvent(product);
      const orderId = placed.data.orderId;
      await rig.publish(placed);
      await catalog.reserving; // the saga holds its lease, waiting for the catalog
      database.sever();
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      database.restore();

      await waitFor(async () => (await rig.saga(orderId))?.status === 'COMPLETED', { timeoutMs: 40_000, intervalMs: 250, what: 'the saga to complete' });
      expect(await rig.captures(orderId)).toEqual([expect.objectContaining({ status: 'captured' })]);
      expect(await rig.reservation(orderId)).toMatchObject({ status: 'COMMITTED' });
      expect(await rig.stock(product)).toBe(4);
      await waitFor(() => rig.facts(orderId).includes('shipment.created'), { timeoutMs: 10_000, what: 'shipment.created' });
      expect(rig.facts(orderId).filter((f) => f === 'payment.captured')).toHaveLength(1);
      expect(await deadLetters()).toBe(0);
    } finally {
      await worker.stop();
      await catalog.close();
      await database.stop();
    }
  }, 90_000);

  it('leaves no saga behind whose message is gone: the worker finds it, resumes it to its end, and counts it', async () => {
    const product = await rig.product(5);
    const placed = placedEvent(product);
    const orderId = placed.data.orderId;
    // a saga that started and then lost its message (dead-lettered, purged): RUNNING, no lease, no progress for an hour
    await startSaga(drizzle(rig.sql), placed.data, { correlationId: placed.id });
    await rig.sql.query(`update fulfillment.sagas set updated_at = now() - interval '1 hour' where order_id = $1`, [orderId]);

    const worker = await startFulfillmentWorker(loadFulfillmentConfig(rig.workerEnv({ STUCK_SAGA_AFTER_SECONDS: '60', STUCK_SAGA_CHECK_SECONDS: '1' })));
    try {
      await waitFor(async () => (await rig.saga(orderId))?.status === 'COMPLETED', { timeoutMs: 20_000, intervalMs: 250, what: 'the stuck saga to be resumed' });
      expect(await rig.captures(orderId)).toHaveLength(1);
      expect(worker.resumer.stats).toMatchObject({ resumed: 1, failed: 0 });
      expect(await (await fetch(`${worker.probeUrl}/metrics`)).text()).toMatch(/fulfillment_stuck_sagas\{outcome="resumed"[^}]*\} 1/);
    } finally {
      await worker.stop();
    }
  }, 60_000);
});

describe('a save and its events are one statement', () => {
  it('writes both while the runner holds the lease, and neither once it has lost it', async () => {
    const db = drizzle(rig.sql);
    const placed = placedEvent(await rig.product(1));
    const { orderId } = placed.data;
    const created = await startSaga(db, placed.data, { correlationId: placed.id }, { owner: 'runner-a', leaseMs: 30_000 });
    expect(created).toMatchObject({ orderId, step: 'fraud', leaseOwner: 'runner-a' });
    const event = (name: 'inventory.reserved') => createEvent({ name, source: 'fulfillment', subject: orderId, data: { orderId, reservationId: orderId } });
    const outboxed = async (id: string) => (await rig.sql.query('select 1 from fulfillment.outbox where id = $1', [id])).rowCount;

    const lost = event('inventory.reserved');
    await expect(saveSaga(db, orderId, 'runner-b', 30_000, { step: 'capture-payment', reservationId: orderId }, [lost])).rejects.toBeInstanceOf(LeaseLost);
    expect(await outboxed(lost.id)).toBe(0);
    expect((await findSaga(db, orderId))!.step).toBe('fraud');

    const kept = event('inventory.reserved');
    const saved = await saveSaga(db, orderId, 'runner-a', 30_000, { step: 'capture-payment', reservationId: orderId }, [kept]);
    expect(await outboxed(kept.id)).toBe(1);
    // the row comes back as drizzle maps it: property names, Dates, the order's JSON
    expect(saved).toMatchObject({ orderId, step: 'capture-payment', reservationId: orderId, leaseOwner: 'runner-a', order: { totalCents: placed.data.totalCents } });
    expect(saved.leaseUntil).toBeInstanceOf(Date);
    expect(saved).toEqual(await findSaga(db, orderId));

    const ended = await saveSaga(db, orderId, 'runner-a', 30_000, { status: 'CANCELLED', endedAt: new Date() }, [], { release: true });
    expect(ended).toMatchObject({ status: 'CANCELLED', leaseOwner: null, leaseUntil: null });
  });
});

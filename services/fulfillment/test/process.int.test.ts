/**
 * The fulfillment worker as a real process: killed mid-saga (SIGKILL, a real exit with no chance to clean up)
 * another process resumes the saga from its last completed step when SQS redelivers, with one reservation and
 * one capture; SIGTERM stops it cleanly; a bad configuration is refused by name.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startProcess, startTestIdentityProvider, waitFor, type TestIdentityProvider } from '@securecart/testing';
import { placedEvent, startFulfillmentRig, type FulfillmentRig } from './harness.ts';

const infra = inject('infra');
const workerScript = fileURLToPath(new URL('../src/worker.ts', import.meta.url));
const cwd = fileURLToPath(new URL('../../..', import.meta.url));
let idp: TestIdentityProvider;
let rig: FulfillmentRig;

beforeAll(async () => {
  idp = await startTestIdentityProvider();
  rig = await startFulfillmentRig(infra, idp, { outOfProcess: true });
});
afterAll(async () => {
  await rig?.close();
  await idp?.close();
});

describe('the fulfillment worker process', () => {
  it('killed after the gateway captured but before the saga saved it, resumes in a new process: one reservation, one capture', async () => {
    // RETRY_BASE_SECONDS=3: the timed-out capture comes back after 3 s, long enough to kill the process first.
    const env = rig.workerEnv({ LOG_LEVEL: 'info', RETRY_BASE_SECONDS: '3' });
    const first = startProcess(workerScript, env, cwd);
    await first.waitForOutput(/fulfillment worker started/);
    const product = await rig.product(5);
    const placed = placedEvent(product, { quantity: 2, paymentToken: 'tok_timeout' });
    await rig.publish(placed);
    // The gateway has captured (its ledger says so) but the answer was lost: the saga is still at capture-payment.
    await waitFor(
      async () => {
        const saga = await rig.saga(placed.data.orderId);
        return saga?.step === 'capture-payment' && saga.attempts >= 1;
      },
      { timeoutMs: 15_000, what: 'the capture to time out' },
    );
    expect(await rig.captures(placed.data.orderId)).toEqual([expect.objectContaining({ status: 'captured' })]);
    first.kill('SIGKILL');
    expect(await first.exited).toBeNull(); // killed by the signal, not exited

    const second = startProcess(workerScript, env, cwd);
    try {
      await second.waitForOutput(/fulfillment worker started/);
      await waitFor(async () => (await rig.saga(placed.data.orderId))?.status === 'COMPLETED', { timeoutMs: 30_000, what: 'the saga to complete' });
      await waitFor(() => rig.facts(placed.data.orderId).includes('shipment.created'), { timeoutMs: 10_000, what: 'shipment.created' });
      expect(await rig.captures(placed.data.orderId)).toEqual([expect.objectContaining({ status: 'captured', attempts: 1 })]);
      expect(await rig.stock(product)).toBe(3);
      // One fact per step. The kill may land between the relay's publish and its commit, so the next process
      // publishes that fact again: the same event, the same id (at-least-once; consumers drop it by id).
      const facts = rig.updates.about(placed.data.orderId);
      const distinct = [...new Map(facts.map((e) => [e.id, e])).values()];
      expect(distinct.map((e) => e.type.replace('com.securecart.', ''))).toEqual(['inventory.reserved', 'payment.captured', 'shipment.created']);
    } finally {
      second.kill('SIGTERM');
      await second.exited;
    }
  });

  it('finishes the saga in hand on SIGTERM and exits 0', async () => {
    const worker = startProcess(workerScript, rig.workerEnv({ LOG_LEVEL: 'info' }), cwd);
    await worker.waitForOutput(/fulfillment worker started/);
    const placed = placedEvent(await rig.product(1));
    await rig.publish(placed);
    await waitFor(async () => (await rig.saga(placed.data.orderId))?.status === 'COMPLETED', { timeoutMs: 15_000, what: 'the saga to complete' });
    worker.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(worker.output()).toMatch(/shut down cleanly/);
  });

  it('refuses to start without its configuration, naming each variable', async () => {
    const worker = startProcess(workerScript, { DATABASE_URL: 'mysql://nope', PATH: process.env.PATH ?? '' }, cwd);
    expect(await worker.exited).toBe(1);
    expect(worker.output()).toMatch(/DATABASE_URL/);
    expect(worker.output()).toMatch(/REDIS_URL/);
    expect(worker.output()).toMatch(/CATALOG_INTERNAL_URL/);
  });
});

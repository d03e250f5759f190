/** The router's decisions, with stand-in databases (pure logic: which database answers, and when). */
import { describe, expect, it } from 'vitest';
import { ReplicaRouter, type Db } from '../src/index.ts';

function fakeDb(name: string, behaviour: { lagMs?: number; fail?: Error } = {}) {
  const db = {
    name,
    behaviour,
    execute: async () => {
      if (db.behaviour.fail) throw db.behaviour.fail;
      return { rows: [{ in_recovery: true, lag_ms: db.behaviour.lagMs ?? 0 }] };
    },
  };
  return db;
}
const asDb = (d: unknown) => d as Db;
const which = (db: Db) => Promise.resolve((db as unknown as { name: string }).name);
const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5433'), { code: 'ECONNREFUSED' });

describe('ReplicaRouter', () => {
  it('reads from a healthy replica, and from the primary when asked for fresh data', async () => {
    const router = new ReplicaRouter({ primary: asDb(fakeDb('primary')), replica: asDb(fakeDb('replica')) });
    await router.start();
    expect(await router.read(which)).toBe('replica');
    expect(await router.read(which, { fresh: true })).toBe('primary');
    router.stop();
  });

  it('reads from the primary when the replica lags beyond the bound', async () => {
    const router = new ReplicaRouter({ primary: asDb(fakeDb('primary')), replica: asDb(fakeDb('replica', { lagMs: 5_000 })), maxLagMs: 1_000 });
    await router.start();
    expect(router.replicaState).toMatchObject({ healthy: false, lagMs: 5_000 });
    expect(await router.read(which)).toBe('primary');
    router.stop();
  });

  it('retries on the primary when the replica fails mid-read, and marks it down', async () => {
    const replica = fakeDb('replica');
    const router = new ReplicaRouter({ primary: asDb(fakeDb('primary')), replica: asDb(replica) });
    await router.start();
    const answer = await router.read(async (db) => {
      if (db === asDb(replica)) throw refused;
      return which(db);
    });
    expect(answer).toBe('primary');
    expect(router.replicaState.healthy).toBe(false);
    expect(router.stats.replicaFailures).toBe(1);
    router.stop();
  });

  it('does not hide a query error as a replica failure', async () => {
    const router = new ReplicaRouter({ primary: asDb(fakeDb('primary')), replica: asDb(fakeDb('replica')) });
    await router.start();
    await expect(router.read(async () => Promise.reject(Object.assign(new Error('syntax'), { code: '42601' })))).rejects.toThrow('syntax');
    router.stop();
  });

  it('asks the primary before believing a miss on the replica', async () => {
    const router = new ReplicaRouter({ primary: asDb(fakeDb('primary')), replica: asDb(fakeDb('replica')) });
    await router.start();
    const found = await router.readOrPrimary(async (db) => ((await which(db)) === 'primary' ? 'row' : undefined));
    expect(found).toBe('row');
    expect(router.stats.missRetries).toBe(1);
    router.stop();
  });

  it('serves a fresh read from a healthy replica when the primary is unreachable', async () => {
    const primary = fakeDb('primary');
    const router = new ReplicaRouter({ primary: asDb(primary), replica: asDb(fakeDb('replica')) });
    await router.start();
    const answer = await router.read(async (db) => {
      if (db === asDb(primary)) throw refused;
      return which(db);
    }, { fresh: true });
    expect(answer).toBe('replica');
    router.stop();
  });

  it('comes back to the replica when a health check succeeds again', async () => {
    const replica = fakeDb('replica', { fail: refused });
    const router = new ReplicaRouter({ primary: asDb(fakeDb('primary')), replica: asDb(replica) });
    await router.start();
    expect(router.replicaState.healthy).toBe(false);
    replica.behaviour = {};
    await router.check();
    expect(router.replicaState.healthy).toBe(true);
    router.stop();
  });
});

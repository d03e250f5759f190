import { describe, expect, it } from 'vitest';
import { Cache, MemoryStore, type SharedStore } from '../src/index.ts';

function twoTasks(hotTtlMs = 5_000) {
  const store = new MemoryStore();
  return { store, a: new Cache({ store, namespace: 't', hotTtlMs }), b: new Cache({ store, namespace: 't', hotTtlMs }) };
}

describe('Cache', () => {
  it('loads once, then serves from the hot tier', async () => {
    const { a } = twoTasks();
    let loads = 0;
    const load = async () => ({ n: ++loads });
    expect(await a.getOrLoad('k', { tags: ['x'], ttlSeconds: 60 }, load)).toEqual({ n: 1 });
    expect(await a.getOrLoad('k', { tags: ['x'], ttlSeconds: 60 }, load)).toEqual({ n: 1 });
    expect(a.stats).toMatchObject({ loads: 1, hotHits: 1 });
  });

  it('shares a loaded value with another task through the shared store', async () => {
    const { a, b } = twoTasks();
    await a.getOrLoad('k', { tags: ['x'], ttlSeconds: 60 }, async () => 'from a');
    expect(await b.getOrLoad('k', { tags: ['x'], ttlSeconds: 60 }, async () => 'from b')).toBe('from a');
    expect(b.stats.sharedHits).toBe(1);
  });

  it('collapses concurrent misses for one key into one load', async () => {
    const { a } = twoTasks();
    let loads = 0;
    const slow = () => new Promise<number>((resolve) => setTimeout(() => resolve(++loads), 20));
    const results = await Promise.all(Array.from({ length: 20 }, () => a.getOrLoad('k', { tags: [], ttlSeconds: 60 }, slow)));
    expect(new Set(results)).toEqual(new Set([1]));
    expect(loads).toBe(1);
  });

  it('moves every task on when a tag is invalidated', async () => {
    const { a, b } = twoTasks();
    await Promise.all([a.start(), b.start()]);
    let version = 1;
    const load = async () => `v${version}`;
    expect(await a.getOrLoad('k', { tags: ['x'], ttlSeconds: 60 }, load)).toBe('v1');
    expect(await b.getOrLoad('k', { tags: ['x'], ttlSeconds: 60 }, load)).toBe('v1');
    version = 2;
    await a.invalidate(['x']);
    expect(await b.getOrLoad('k', { tags: ['x'], ttlSeconds: 60 }, load)).toBe('v2');
    expect(await a.getOrLoad('k', { tags: ['x'], ttlSeconds: 60 }, load)).toBe('v2');
  });

  it('never lets a load that started before an invalidation be served after it', async () => {
    const { a } = twoTasks();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const stale = a.getOrLoad('k', { tags: ['x'], ttlSeconds: 60 }, async () => {
      await gate;
      return 'old';
    });
    await a.invalidate(['x']);
    release();
    expect(await stale).toBe('old'); // its own caller gets what it read
    expect(await a.getOrLoad('k', { tags: ['x'], ttlSeconds: 60 }, async () => 'new')).toBe('new');
  });

  it('tells the loader how recently its data changed', async () => {
    const { a } = twoTasks();
    const before = Date.now();
    await a.invalidate(['x']);
    let changedAt = 0;
    await a.getOrLoad('k', { tags: ['x', 'y'], ttlSeconds: 60 }, async (ctx) => {
      changedAt = ctx.changedAt;
      return 1;
    });
    expect(changedAt).toBeGreaterThanOrEqual(before);
    expect(changedAt).toBeLessThanOrEqual(Date.now());
  });

  it('does not cache a miss', async () => {
    const { a } = twoTasks();
    expect(await a.getOrLoad('k', { tags: [], ttlSeconds: 60 }, async () => undefined)).toBeUndefined();
    expect(await a.getOrLoad('k', { tags: [], ttlSeconds: 60 }, async () => 'now here')).toBe('now here');
  });

  it('falls back to the loader, without errors, when the shared store fails', async () => {
    const broken: SharedStore = {
      mget: () => Promise.reject(new Error('down')),
      set: () => Promise.reject(new Error('down')),
      bumpEpoch: () => Promise.reject(new Error('down')),
      publish: () => Promise.reject(new Error('down')),
      subscribe: () => Promise.reject(new Error('down')),
    };
    const cache = new Cache({ store: broken, namespace: 't', hotTtlMs: 0 });
    await cache.start();
    let n = 0;
    expect(await cache.getOrLoad('k', { tags: ['x'], ttlSeconds: 60 }, async () => ++n)).toBe(1);
    await cache.invalidate(['x']);
    expect(await cache.getOrLoad('k', { tags: ['x'], ttlSeconds: 60 }, async () => ++n)).toBe(2);
    expect(cache.stats.storeErrors).toBeGreaterThan(0);
  });
});

import type { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { connectRedis } from '@securecart/cache';
import { TcpProxy } from '@securecart/testing';
import { createHttpApp, SharedRateCounter } from '../src/index.ts';

const infra = inject('infra');
const clients: Redis[] = [];
afterAll(() => clients.forEach((c) => c.disconnect()));

async function counter(prefix: string, url = infra.redisUrl) {
  const redis = await connectRedis(url, { name: 'rl-test' });
  clients.push(redis);
  return new SharedRateCounter({ redis, prefix, flushIntervalMs: 60_000 });
}

describe('SharedRateCounter', () => {
  it('allows exactly the limit across two tasks hitting alternately', async () => {
    const prefix = `${infra.namespace}:rl-exact-${Date.now()}:`;
    const [a, b] = [await counter(prefix), await counter(prefix)];
    let allowed = 0;
    for (let i = 0; i < 20; i++) {
      const { current } = await (i % 2 === 0 ? a : b).hit('client', 60_000, 10);
      if (current <= 10) allowed++;
    }
    expect(allowed).toBe(10);
  });

  it('counts far from the limit locally and flushes the total to Redis', async () => {
    const prefix = `${infra.namespace}:rl-flush-${Date.now()}:`;
    const a = await counter(prefix);
    const now = Date.now();
    for (let i = 0; i < 7; i++) await a.hit('client', 60_000, 1000, now);
    const key = `${prefix}client:${Math.floor(now / 60_000)}`;
    expect(await clients[0]!.get(key)).toBeNull(); // nothing sent yet: no round trip per hit
    await a.flush();
    expect(Number(await clients.at(-1)!.get(key))).toBe(7);
    expect(await clients.at(-1)!.pttl(key)).toBeGreaterThan(0);
  });

  it('keeps counting on its own when Redis goes away, without failing a request', async () => {
    const proxy = await TcpProxy.forUrl(infra.redisUrl).start();
    try {
      const a = await counter(`${infra.namespace}:rl-down-${Date.now()}:`, proxy.rewrite(infra.redisUrl));
      proxy.sever();
      const results = [];
      for (let i = 0; i < 4; i++) results.push((await a.hit('client', 60_000, 3)).current);
      expect(results).toEqual([1, 2, 3, 4]);
    } finally {
      await proxy.stop();
    }
  });
});

describe('rate limits per service', () => {
  it('counts each service on its own: a customer who used up catalog reads can still check out', async () => {
    const redis = await connectRedis(infra.redisUrl, { name: 'rl-scope-test' });
    clients.push(redis);
    const namespace = `${infra.namespace}:rls-${Date.now()}`;
    const appOf = async (service: string) => {
      const app = await createHttpApp({
        service,
        logger: false,
        verifier: { verify: async (token) => ({ sub: token, email: undefined, groups: [], isAdmin: false }) },
        readiness: {},
        rateLimit: { max: 2, windowMs: 60_000, redis, namespace },
        docs: { title: service, version: '0', description: service },
      });
      app.get('/thing', async () => ({ ok: true }));
      await app.ready();
      return app;
    };
    const [catalog, checkout] = [await appOf('catalog'), await appOf('checkout')];
    try {
      const hit = (app: typeof catalog, who: string) => app.inject({ url: '/thing', headers: { authorization: `Bearer ${who}` } }).then((r) => r.statusCode);
      expect([await hit(catalog, 'ada'), await hit(catalog, 'ada'), await hit(catalog, 'ada')]).toEqual([200, 200, 429]);
      expect([await hit(checkout, 'ada'), await hit(checkout, 'ada'), await hit(checkout, 'ada')]).toEqual([200, 200, 429]);
      expect(await hit(catalog, 'grace')).toBe(200); // and per customer
    } finally {
      await Promise.all([catalog.close(), checkout.close()]);
    }
  });
});

/**
 * The status feed on real Redis: a change published by one task reaches the listeners of that order on another,
 * and a subscriber that lost Redis subscribes again when it is back and wakes its listeners (what was published
 * meanwhile is lost, so they must look at the history again).
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectRedis } from '@securecart/cache';
import { TcpProxy, waitFor } from '@securecart/testing';
import { RedisOrderStatusFeed, type OrderStatusChange } from '../src/status-feed.ts';

const infra = inject('infra');
let publisherRedis: Redis;
let publisher: RedisOrderStatusFeed;
const opened: { close(): unknown }[] = [];

beforeAll(async () => {
  publisherRedis = await connectRedis(infra.redisUrl, { name: 'orders-test-feed-publisher' });
  publisher = new RedisOrderStatusFeed({ redis: publisherRedis, namespace: infra.namespace });
});
afterAll(async () => {
  for (const thing of opened.reverse()) await thing.close();
  await publisher?.close();
  publisherRedis?.disconnect();
});

const AT = new Date().toISOString();
const change = (orderId: string, historyId: number): OrderStatusChange => ({ orderId, status: 'CONFIRMED', reason: null, at: AT, historyId });

async function subscriberFeed(url = infra.redisUrl) {
  const redis = await connectRedis(url, { name: 'orders-test-feed-subscriber' });
  const feed = new RedisOrderStatusFeed({ redis, namespace: infra.namespace });
  opened.push({ close: () => redis.disconnect() }, feed);
  return feed;
}

describe('the Redis status feed', () => {
  it('hands a change published by another task to every listener of that order, and to no other', async () => {
    const feed = await subscriberFeed();
    const orderId = randomUUID();
    const first: (OrderStatusChange | undefined)[] = [];
    const second: (OrderStatusChange | undefined)[] = [];
    const other: (OrderStatusChange | undefined)[] = [];
    feed.subscribe(orderId, (c) => first.push(c));
    feed.subscribe(orderId, (c) => second.push(c));
    feed.subscribe(randomUUID(), (c) => other.push(c));
    await waitFor(() => first.length > 0 && second.length > 0, { what: 'the subscription to be active (a wake-up)' });
    expect(first).toEqual([undefined]);

    await publisher.publish(change(orderId, 7));
    await waitFor(() => first.length === 2 && second.length === 2, { what: 'the change' });
    expect(first[1]).toEqual(change(orderId, 7));
    expect(other.filter(Boolean)).toEqual([]);
  });

  it('subscribes again when Redis comes back, wakes its listeners, and then receives changes again', async () => {
    const proxy = await TcpProxy.forUrl(infra.redisUrl).start();
    opened.push({ close: () => proxy.stop() });
    const feed = await subscriberFeed(proxy.rewrite(infra.redisUrl));
    const orderId = randomUUID();
    const seen: (OrderStatusChange | undefined)[] = [];
    feed.subscribe(orderId, (c) => seen.push(c));
    await waitFor(() => seen.length === 1, { what: 'the first wake-up' });

    proxy.sever();
    await publisher.publish(change(orderId, 1)); // lost: nobody is subscribed
    proxy.restore();
    await waitFor(() => seen.length === 2, { timeoutMs: 10_000, what: 'a wake-up after Redis is back' });
    expect(seen).toEqual([undefined, undefined]);
    await publisher.publish(change(orderId, 2));
    await waitFor(() => seen.length === 3, { what: 'the change published after the outage' });
    expect(seen[2]).toEqual(change(orderId, 2));
  });
});

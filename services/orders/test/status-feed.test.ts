import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InProcessOrderStatusFeed, type OrderStatusChange } from '../src/status-feed.ts';

const change = (orderId: string, historyId: number): OrderStatusChange => ({ orderId, status: 'CONFIRMED', reason: null, at: '2025-01-01T00:00:00.000Z', historyId });

describe('the in-process status feed', () => {
  it('hands a change to the listeners of that order until they unsubscribe', async () => {
    const feed = new InProcessOrderStatusFeed();
    const orderId = randomUUID();
    const seen: (OrderStatusChange | undefined)[] = [];
    const unsubscribe = feed.subscribe(orderId, (c) => seen.push(c));
    await feed.publish(change(orderId, 1));
    await feed.publish(change(randomUUID(), 2));
    unsubscribe();
    await feed.publish(change(orderId, 3));
    expect(seen).toEqual([change(orderId, 1)]);
  });
});

/**
 * Per-customer order velocity in Redis, shared by every fulfillment task: a sorted set of order ids scored by
 * time. Adding an order id that is already there changes nothing, so a retried fraud step counts its order once.
 * Redis unavailable is a transient failure: the step is retried, never skipped.
 */
import type { Redis } from 'ioredis';
import { TransientFailure, type VelocityCounter } from '../ports.ts';

export class RedisVelocityCounter implements VelocityCounter {
  private readonly redis: Redis;
  private readonly namespace: string;

  constructor(redis: Redis, namespace: string) {
    this.redis = redis;
    this.namespace = namespace;
  }

  async record(customerId: string, orderId: string, windowSeconds: number): Promise<number> {
    const key = `${this.namespace}:fraud:velocity:${customerId}`;
    const now = Date.now();
    try {
      const results = await this.redis
        .multi()
        .zadd(key, 'NX', now, orderId)
        .zremrangebyscore(key, '-inf', now - windowSeconds * 1000)
        .zcard(key)
        .pexpire(key, windowSeconds * 1000)
        .exec();
      const count = results?.[2]?.[1];
      if (typeof count !== 'number') throw new Error('unexpected reply to ZCARD');
      return count;
    } catch (error) {
      throw new TransientFailure(`velocity counters unavailable: ${(error as Error).message}`);
    }
  }
}

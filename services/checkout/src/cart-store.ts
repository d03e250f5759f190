/**
 * Carts in Redis: one hash per customer (product id -> quantity) with a TTL renewed on every change. Redis is
 * the only place carts live, so when it does not answer, cart routes answer 503 (docs/architecture.md, Checkout).
 */
import type { Redis } from 'ioredis';
import { serviceUnavailable } from '@securecart/http-kit';

export const CART_TTL_SECONDS = 7 * 24 * 3600;

export class CartStore {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(redis: Redis, namespace: string) {
    this.redis = redis;
    this.prefix = `${namespace}:cart:`;
  }

  async get(customerId: string): Promise<Map<string, number>> {
    const raw = await this.call(() => this.redis.hgetall(this.key(customerId)));
    return new Map(Object.entries(raw).map(([id, q]) => [id, Number(q)]));
  }

  async set(customerId: string, productId: string, quantity: number): Promise<void> {
    const key = this.key(customerId);
    if (quantity === 0) {
      await this.call(() => this.redis.hdel(key, productId));
      return;
    }
    await this.call(() => this.redis.multi().hset(key, productId, String(quantity)).expire(key, CART_TTL_SECONDS).exec());
  }

  async clear(customerId: string): Promise<void> {
    await this.call(() => this.redis.del(this.key(customerId)));
  }

  /** Removes the lines that were ordered, and only those: a line added during checkout stays. */
  async removeOrdered(customerId: string, ordered: Map<string, number>): Promise<void> {
    const key = this.key(customerId);
    const current = await this.get(customerId);
    const gone = [...ordered.keys()].filter((id) => current.get(id) === ordered.get(id));
    if (gone.length > 0) await this.call(() => this.redis.hdel(key, ...gone));
  }

  private key(customerId: string) {
    return `${this.prefix}${customerId}`;
  }

  private async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw Object.assign(serviceUnavailable('Carts are unavailable right now; retry shortly', 5), { cause: error });
    }
  }
}

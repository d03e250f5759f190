/**
 * Idempotency records in Redis, per customer and key, kept 24 h: the request's hash and, once the order is
 * submitted, the answer given, so a retry gets the same answer. A record is claimed (SET NX) before publishing,
 * so a reuse of the key with another body is refused (422) before anything is published.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { CheckoutAccepted } from '@securecart/contracts';
import { serviceUnavailable } from '@securecart/http-kit';

export const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

export interface IdempotencyRecord {
  hash: string;
  state: 'pending' | 'completed';
  response?: CheckoutAccepted;
}

export class IdempotencyStore {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(redis: Redis, namespace: string) {
    this.redis = redis;
    this.prefix = `${namespace}:idem:`;
  }

  async get(customerId: string, key: string): Promise<IdempotencyRecord | undefined> {
    const raw = await this.call(() => this.redis.get(this.key(customerId, key)));
    return raw ? (JSON.parse(raw) as IdempotencyRecord) : undefined;
  }

  /** True when this call created the record; false when one was there already. */
  async claim(customerId: string, key: string, hash: string): Promise<boolean> {
    const record: IdempotencyRecord = { hash, state: 'pending' };
    const result = await this.call(() => this.redis.set(this.key(customerId, key), JSON.stringify(record), 'EX', IDEMPOTENCY_TTL_SECONDS, 'NX'));
    return result === 'OK';
  }

  async complete(customerId: string, key: string, hash: string, response: CheckoutAccepted): Promise<void> {
    const record: IdempotencyRecord = { hash, state: 'completed', response };
    await this.call(() => this.redis.set(this.key(customerId, key), JSON.stringify(record), 'EX', IDEMPOTENCY_TTL_SECONDS));
  }

  /** Gives a pending claim up (publishing failed), so a retry starts afresh. */
  async release(customerId: string, key: string): Promise<void> {
    await this.redis.del(this.key(customerId, key)).catch(() => undefined);
  }

  private key(customerId: string, key: string) {
    // hashed: keys are client-chosen strings up to 255 characters
    return `${this.prefix}${customerId}:${createHash('sha256').update(key).digest('base64url')}`;
  }

  private async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw Object.assign(serviceUnavailable('Checkout is unavailable right now; retry shortly', 5), { cause: error });
    }
  }
}

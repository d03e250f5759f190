/**
 * The shared tier of the cache: Redis across tasks, or an in-process stand-in with the same behaviour for
 * embedded mode. Values are strings; epochs are numbers that only grow.
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';

export interface SharedStore {
  mget(keys: string[]): Promise<(string | null)[]>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** sets the epoch to max(current + 1, floor) and returns it */
  bumpEpoch(key: string, floor: number): Promise<number>;
  publish(channel: string, message: string): Promise<void>;
  /** resolves once the subscription is active */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
}

const BUMP_EPOCH = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
local nextEpoch = math.max(current + 1, floor)
redis.call('SET', KEYS[1], nextEpoch, 'EX', ARGV[2])
return nextEpoch`;

/** Epochs must outlive every value stored under them. */
const EPOCH_TTL_SECONDS = 7 * 24 * 3600;

export class RedisStore implements SharedStore {
  private readonly redis: Redis;
  /** pub/sub needs a connection of its own */
  private readonly subscriber: Redis;

  constructor(redis: Redis, subscriber: Redis) {
    this.redis = redis;
    this.subscriber = subscriber;
  }

  async mget(keys: string[]) {
    return keys.length === 0 ? [] : this.redis.mget(...keys);
  }

  async set(key: string, value: string, ttlSeconds: number) {
    await this.redis.set(key, value, 'EX', ttlSeconds);
  }

  async bumpEpoch(key: string, floor: number) {
    return Number(await this.redis.eval(BUMP_EPOCH, 1, key, String(floor), String(EPOCH_TTL_SECONDS)));
  }

  async publish(channel: string, message: string) {
    await this.redis.publish(channel, message);
  }

  async subscribe(channel: string, onMessage: (message: string) => void) {
    const listener = (ch: string, message: string) => {
      if (ch === channel) onMessage(message);
    };
    this.subscriber.on('message', listener);
    await this.subscriber.subscribe(channel);
    return async () => {
      this.subscriber.off('message', listener);
      await this.subscriber.unsubscribe(channel).catch(() => undefined);
    };
  }
}

/** Embedded mode: one process, so a Map and an EventEmitter do what Redis does across tasks. */
export class MemoryStore implements SharedStore {
  private readonly values = new Map<string, { value: string; expiresAt: number }>();
  private readonly bus = new EventEmitter();

  async mget(keys: string[]) {
    const now = Date.now();
    return keys.map((key) => {
      const entry = this.values.get(key);
      if (!entry) return null;
      if (entry.expiresAt <= now) {
        this.values.delete(key);
        return null;
      }
      return entry.value;
    });
  }

  async set(key: string, value: string, ttlSeconds: number) {
    this.values.set(key, { value, expiresAt: Date.now() + ttlSeconds * 1000 });
  }

  async bumpEpoch(key: string, floor: number) {
    const [current] = await this.mget([key]);
    const next = Math.max(Number(current ?? 0) + 1, floor);
    await this.set(key, String(next), EPOCH_TTL_SECONDS);
    return next;
  }

  async publish(channel: string, message: string) {
    this.bus.emit(channel, message);
  }

  async subscribe(channel: string, onMessage: (message: string) => void) {
    this.bus.on(channel, onMessage);
    return async () => {
      this.bus.off(channel, onMessage);
    };
  }
}

/**
 * Cache-aside in two tiers: an in-process hot tier (a few seconds, bounded size), then a shared store (Redis),
 * then the loader (SQL). Concurrent misses for one key in one task share a single load (no stampede).
 *
 * Invalidation is by tag epochs rather than by deleting keys: every entry is stored under the current epochs of
 * the tags it depends on, and a write bumps the epochs of the tags it touches. Readers then look under new keys,
 * so an old value can never come back (not even from a load that was already running when the write landed),
 * and one bump invalidates every list page at once without scanning Redis. The new epochs are published, so
 * every task's hot tier moves on at once; if a message is lost, a hot epoch is re-read after `hotTtlMs`.
 *
 * An epoch is the time of the write in ms (kept monotonic), so a loader learns how recently its data changed
 * (`changedAt`) and can read from the primary while a replica may still be catching up.
 *
 * When the shared store fails, the cache serves from the hot tier and the loader alone: slower, never an error.
 */
import type { SharedStore } from './store.ts';

export interface CacheLogger {
  warn(obj: object, msg: string): void;
}

export interface CacheOptions {
  store: SharedStore;
  /** prefixes every key and channel, so deployments and test runs can share one Redis */
  namespace: string;
  /** how long a task may serve a value without asking the shared tier; the staleness bound across tasks */
  hotTtlMs?: number;
  hotMaxEntries?: number;
  log?: CacheLogger;
}

export interface LoadContext {
  /** time (ms) of the latest write to any tag the entry depends on; 0 when unknown */
  changedAt: number;
}

export interface EntryOptions {
  tags: string[];
  ttlSeconds: number;
}

export interface CacheStats {
  hotHits: number;
  sharedHits: number;
  loads: number;
  storeErrors: number;
}

interface HotEntry {
  value: unknown;
  expiresAt: number;
}

const STORE_RETRY_AFTER_MS = 1_000;

export class Cache {
  readonly stats: CacheStats = { hotHits: 0, sharedHits: 0, loads: 0, storeErrors: 0 };
  private readonly store: SharedStore;
  private readonly ns: string;
  private readonly hotTtlMs: number;
  private readonly hotMax: number;
  private readonly log: CacheLogger | undefined;
  private readonly hot = new Map<string, HotEntry>();
  private readonly epochs = new Map<string, { epoch: number; fetchedAt: number }>();
  private readonly inflight = new Map<string, Promise<unknown>>();
  private storeDownUntil = 0;
  private unsubscribe: (() => Promise<void>) | undefined;

  constructor(options: CacheOptions) {
    this.store = options.store;
    this.ns = options.namespace;
    this.hotTtlMs = options.hotTtlMs ?? 5_000;
    this.hotMax = options.hotMaxEntries ?? 10_000;
    this.log = options.log;
  }

  get channel(): string {
    return `${this.ns}:invalidate`;
  }

  /** Subscribes to invalidations from other tasks. */
  async start(): Promise<void> {
    try {
      this.unsubscribe = await this.store.subscribe(this.channel, (message) => this.applyInvalidation(message));
    } catch (error) {
      // Without the subscription, hot epochs are still re-read every hotTtlMs: staleness stays bounded.
      this.log?.warn({ err: error }, 'cache invalidation subscription failed; relying on the hot tier TTL');
    }
  }

  async stop(): Promise<void> {
    await this.unsubscribe?.();
    this.hot.clear();
  }

  async getOrLoad<T>(key: string, options: EntryOptions, load: (context: LoadContext) => Promise<T | undefined>): Promise<T | undefined> {
    const epochs = await this.currentEpochs(options.tags);
    const fullKey = `${this.ns}:v:${key}@${epochs.join('.')}`;
    const now = Date.now();
    const hot = this.hot.get(fullKey);
    if (hot && hot.expiresAt > now) {
      this.stats.hotHits++;
      return hot.value as T;
    }
    const running = this.inflight.get(fullKey);
    if (running) return running as Promise<T | undefined>;
    const loading = this.loadThrough(fullKey, options, Math.max(0, ...epochs), load).finally(() => {
      this.inflight.delete(fullKey);
    });
    this.inflight.set(fullKey, loading);
    return loading;
  }

  /** Moves the given tags to a new epoch here and, through the shared store, in every task. */
  async invalidate(tags: string[]): Promise<void> {
    const floor = Date.now();
    const bumped: Record<string, number> = {};
    for (const tag of tags) {
      let epoch: number;
      try {
        epoch = await this.store.bumpEpoch(this.epochKey(tag), floor);
      } catch (error) {
        this.noteStoreError(error);
        epoch = Math.max(floor, (this.epochs.get(tag)?.epoch ?? 0) + 1);
      }
      bumped[tag] = epoch;
      this.epochs.set(tag, { epoch, fetchedAt: Date.now() });
    }
    try {
      await this.store.publish(this.channel, JSON.stringify(bumped));
    } catch (error) {
      this.noteStoreError(error);
    }
  }

  private applyInvalidation(message: string) {
    let bumped: Record<string, number>;
    try {
      bumped = JSON.parse(message) as Record<string, number>;
    } catch {
      return;
    }
    const now = Date.now();
    for (const [tag, epoch] of Object.entries(bumped)) {
      const known = this.epochs.get(tag);
      if (typeof epoch === 'number' && (!known || epoch > known.epoch)) this.epochs.set(tag, { epoch, fetchedAt: now });
    }
  }

  private async loadThrough<T>(
    fullKey: string,
    options: EntryOptions,
    changedAt: number,
    load: (context: LoadContext) => Promise<T | undefined>,
  ): Promise<T | undefined> {
    if (this.storeUsable()) {
      try {
        const [shared] = await this.store.mget([fullKey]);
        if (shared != null) {
          this.stats.sharedHits++;
          const value = JSON.parse(shared) as T;
          this.putHot(fullKey, value);
          return value;
        }
      } catch (error) {
        this.noteStoreError(error);
      }
    }
    this.stats.loads++;
    const value = await load({ changedAt });
    if (value === undefined) return undefined;
    this.putHot(fullKey, value);
    if (this.storeUsable()) {
      this.store.set(fullKey, JSON.stringify(value), options.ttlSeconds).catch((error: unknown) => this.noteStoreError(error));
    }
    return value;
  }

  private async currentEpochs(tags: string[]): Promise<number[]> {
    const now = Date.now();
    const stale = tags.filter((tag) => {
      const known = this.epochs.get(tag);
      return !known || now - known.fetchedAt > this.hotTtlMs;
    });
    if (stale.length > 0 && this.storeUsable()) {
      try {
        const values = await this.store.mget(stale.map((tag) => this.epochKey(tag)));
        stale.forEach((tag, i) => {
          const epoch = Number(values[i] ?? 0);
          const known = this.epochs.get(tag);
          this.epochs.set(tag, { epoch: Math.max(epoch, known?.epoch ?? 0), fetchedAt: now });
        });
      } catch (error) {
        this.noteStoreError(error);
      }
    }
    return tags.map((tag) => this.epochs.get(tag)?.epoch ?? 0);
  }

  private putHot(fullKey: string, value: unknown) {
    this.hot.delete(fullKey);
    this.hot.set(fullKey, { value, expiresAt: Date.now() + this.hotTtlMs });
    if (this.hot.size > this.hotMax) {
      const oldest = this.hot.keys().next().value;
      if (oldest !== undefined) this.hot.delete(oldest);
    }
  }

  private epochKey(tag: string) {
    return `${this.ns}:epoch:${tag}`;
  }

  private storeUsable() {
    return Date.now() >= this.storeDownUntil;
  }

  private noteStoreError(error: unknown) {
    this.stats.storeErrors++;
    if (this.storeUsable()) this.log?.warn({ err: error }, 'shared cache unavailable; serving from the hot tier and the database');
    this.storeDownUntil = Date.now() + STORE_RETRY_AFTER_MS;
  }
}

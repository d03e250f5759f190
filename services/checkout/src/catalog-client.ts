/**
 * Checkout's view of catalog: prices and stock of many products at once, from catalog's internal route, through
 * a short-lived Redis snapshot cache and cockatiel's resilience policies, so that a burst of shoppers is served
 * (queued, a little slower) and only a catalog that is really down is refused:
 *
 * - single flight: look-ups of the same products that overlap in this task share one call, so 60 shoppers adding
 *   one product at once ask catalog once, not 60 times;
 * - bulkhead: at most `concurrency` calls to catalog at once and `queue` more waiting their turn; past that the
 *   look-up is refused at once (503) rather than piling onto a sick service;
 * - retry: the look-up is a read, safe to repeat: after a timeout, a refused connection or a 5xx it is tried again,
 *   twice, after a jittered exponential backoff (never when the breaker is open);
 * - circuit breaker: samples the failure rate, and opens when at least half the calls of the last `breakerWindowMs`
 *   failed (and there were enough of them); while open, look-ups fail at once with Retry-After; after
 *   `breakerOpenMs` one trial call decides whether it closes;
 * - timeout: each attempt, its request aborted.
 *
 * The defaults come from measured look-up latency (docs/performance.md): p99 under 60 ms for one product under a
 * burst on 2 cores, so a 2 s attempt only times out when catalog is stuck.
 */
import type { Redis } from 'ioredis';
import {
  BrokenCircuitError, BulkheadRejectedError, bulkhead, circuitBreaker, ExponentialBackoff, handleWhen, retry, SamplingBreaker,
  timeout, TimeoutStrategy, wrap, type IPolicy,
} from 'cockatiel';
import type { ProductSnapshot } from '@securecart/contracts';
import { serviceUnavailable } from '@securecart/http-kit';

export interface CatalogClientOptions {
  baseUrl: string;
  redis: Redis;
  namespace: string;
  snapshotTtlSeconds?: number;
  /** each attempt's timeout */
  timeoutMs?: number;
  /** attempts after the first, for a timeout, a refused connection or a 5xx */
  retries?: number;
  /** calls to catalog at once, and look-ups waiting for one */
  concurrency?: number;
  queue?: number;
  /** the breaker opens when at least `breakerFailureRate` of the calls in the last `breakerWindowMs` failed, given
   * at least `breakerMinimumRps` calls a second in that window; it tries again after `breakerOpenMs` */
  breakerFailureRate?: number;
  breakerWindowMs?: number;
  breakerMinimumRps?: number;
  breakerOpenMs?: number;
}

/** Why a call to catalog failed, kept as the 503's cause (logged). */
class CatalogCallFailed extends Error {
  override name = 'CatalogCallFailed';
}

export class CatalogClient {
  readonly stats = { calls: 0, snapshotHits: 0, sharedLookups: 0, failures: 0, rejectedOpen: 0, rejectedBusy: 0 };
  private readonly options: CatalogClientOptions;
  private readonly policy: IPolicy;
  private readonly breakerOpenMs: number;
  private readonly inFlight = new Map<string, Promise<ProductSnapshot[]>>();

  constructor(options: CatalogClientOptions) {
    this.options = options;
    this.breakerOpenMs = options.breakerOpenMs ?? 10_000;
    // what a retry and the breaker count: the call's own failures, not the policies' refusals
    const callFailures = handleWhen((error) => !(error instanceof BrokenCircuitError) && !(error instanceof BulkheadRejectedError));
    this.policy = wrap(
      bulkhead(options.concurrency ?? 16, options.queue ?? 500),
      retry(callFailures, { maxAttempts: options.retries ?? 2, backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 500 }) }),
      circuitBreaker(callFailures, {
        halfOpenAfter: this.breakerOpenMs,
        breaker: new SamplingBreaker({
          threshold: options.breakerFailureRate ?? 0.5,
          duration: options.breakerWindowMs ?? 10_000,
          minimumRps: options.breakerMinimumRps ?? 2,
        }),
      }),
      timeout(options.timeoutMs ?? 2_000, TimeoutStrategy.Aggressive),
    );
  }

  /** Snapshots of the products that exist; ids missing from the map do not exist. */
  async lookup(ids: string[]): Promise<Map<string, ProductSnapshot>> {
    const result = new Map<string, ProductSnapshot>();
    if (ids.length === 0) return result;
    const keys = ids.map((id) => this.snapshotKey(id));
    const cached = await this.options.redis.mget(...keys).catch(() => ids.map(() => null));
    const missing: string[] = [];
    ids.forEach((id, i) => {
      const raw = cached[i];
      if (raw) {
        this.stats.snapshotHits++;
        result.set(id, JSON.parse(raw) as ProductSnapshot);
      } else {
        missing.push(id);
      }
    });
    if (missing.length === 0) return result;
    for (const snapshot of await this.fetchShared(missing)) result.set(snapshot.id, snapshot);
    return result;
  }

  /** One call for look-ups of the same products that overlap; its snapshots are cached for the next ones. */
  private fetchShared(ids: string[]): Promise<ProductSnapshot[]> {
    const key = [...new Set(ids)].sort().join(',');
    const pending = this.inFlight.get(key);
    if (pending) {
      this.stats.sharedLookups++;
      return pending;
    }
    const call = this.fetchSnapshots(ids)
      .then(async (fetched) => {
        const ttl = this.options.snapshotTtlSeconds ?? 5;
        const pipeline = this.options.redis.pipeline();
        for (const snapshot of fetched) pipeline.set(this.snapshotKey(snapshot.id), JSON.stringify(snapshot), 'EX', ttl);
        await pipeline.exec().catch(() => undefined);
        return fetched;
      })
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, call);
    return call;
  }

  private async fetchSnapshots(ids: string[]): Promise<ProductSnapshot[]> {
    try {
      return await this.policy.execute(async ({ signal }) => {
        this.stats.calls++;
        const response = await fetch(`${this.options.baseUrl}/internal/products/lookup`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ ids }),
          signal,
        });
        if (!response.ok) throw new CatalogCallFailed(`catalog answered ${response.status}`);
        return ((await response.json()) as { items: ProductSnapshot[] }).items;
      });
    } catch (error) {
      if (error instanceof BrokenCircuitError) {
        this.stats.rejectedOpen++;
        throw Object.assign(serviceUnavailable('The catalog is not answering; retry shortly', Math.ceil(this.breakerOpenMs / 1000)), { cause: error });
      }
      if (error instanceof BulkheadRejectedError) {
        this.stats.rejectedBusy++;
        throw Object.assign(serviceUnavailable('Too many look-ups are waiting for the catalog; retry shortly', 1), { cause: error });
      }
      this.stats.failures++;
      throw Object.assign(serviceUnavailable('The catalog is not answering; retry shortly', 5), { cause: error });
    }
  }

  private snapshotKey(id: string) {
    return `${this.options.namespace}:snapshot:${id}`;
  }
}

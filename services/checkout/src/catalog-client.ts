/**
 * Checkout's view of catalog: prices and stock of many products at once, from catalog's internal route, through
 * a short-lived Redis snapshot cache, with a timeout and a circuit breaker. When catalog does not answer, the
 * breaker opens after a few failures and calls fail fast (503) for a while instead of piling up on a sick service.
 */
import type { Redis } from 'ioredis';
import type { ProductSnapshot } from '@securecart/contracts';
import { serviceUnavailable } from '@securecart/http-kit';

export interface CatalogClientOptions {
  baseUrl: string;
  redis: Redis;
  namespace: string;
  snapshotTtlSeconds?: number;
  timeoutMs?: number;
  /** consecutive failures that open the breaker, and how long it stays open */
  breakerThreshold?: number;
  breakerOpenMs?: number;
}

export class CatalogClient {
  readonly stats = { calls: 0, snapshotHits: 0, failures: 0, rejectedOpen: 0 };
  private readonly options: CatalogClientOptions;
  private consecutiveFailures = 0;
  private openUntil = 0;

  constructor(options: CatalogClientOptions) {
    this.options = options;
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
    const fetched = await this.fetchSnapshots(missing);
    const ttl = this.options.snapshotTtlSeconds ?? 5;
    const pipeline = this.options.redis.pipeline();
    for (const snapshot of fetched) {
      result.set(snapshot.id, snapshot);
      pipeline.set(this.snapshotKey(snapshot.id), JSON.stringify(snapshot), 'EX', ttl);
    }
    await pipeline.exec().catch(() => undefined);
    return result;
  }

  private async fetchSnapshots(ids: string[]): Promise<ProductSnapshot[]> {
    if (Date.now() < this.openUntil) {
      this.stats.rejectedOpen++;
      throw serviceUnavailable('The catalog is not answering; retry shortly', Math.ceil((this.openUntil - Date.now()) / 1000));
    }
    this.stats.calls++;
    try {
      const response = await fetch(`${this.options.baseUrl}/internal/products/lookup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ids }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 1_000),
      });
      if (!response.ok) throw new Error(`catalog answered ${response.status}`);
      const body = (await response.json()) as { items: ProductSnapshot[] };
      this.consecutiveFailures = 0;
      return body.items;
    } catch (error) {
      this.stats.failures++;
      if (++this.consecutiveFailures >= (this.options.breakerThreshold ?? 5)) {
        this.openUntil = Date.now() + (this.options.breakerOpenMs ?? 10_000);
        this.consecutiveFailures = 0;
      }
      throw Object.assign(serviceUnavailable('The catalog is not answering; retry shortly', 5), { cause: error });
    }
  }

  private snapshotKey(id: string) {
    return `${this.options.namespace}:snapshot:${id}`;
  }
}

/**
 * Read-your-writes: after a caller changes an order (cancel, refund), their reads go to the primary
 * for a short window, long enough for the replica to have replayed the change (the router stops using a replica
 * that lags beyond its bound). The mark lives in Redis so it holds on every task behind the load balancer, and
 * in this task's memory as well, so a Redis outage never sends a caller back to a stale replica from the task
 * that served their write; when Redis cannot answer, the read goes to the primary.
 */
import type { Redis } from 'ioredis';

export interface RecentWritesOptions {
  redis?: Redis | undefined;
  namespace: string;
  windowMs: number;
}

export class RecentWrites {
  private readonly local = new Map<string, number>();
  private readonly options: RecentWritesOptions;

  constructor(options: RecentWritesOptions) {
    this.options = options;
  }

  async mark(principal: string): Promise<void> {
    if (this.options.windowMs <= 0) return;
    this.local.set(principal, Date.now() + this.options.windowMs);
    if (this.local.size > 10_000) this.prune();
    await this.options.redis?.set(this.key(principal), '1', 'PX', this.options.windowMs).catch(() => undefined);
  }

  /** True when the principal wrote within the window: their reads should come from the primary. */
  async has(principal: string): Promise<boolean> {
    if (this.options.windowMs <= 0) return false;
    const until = this.local.get(principal);
    if (until !== undefined && until > Date.now()) return true;
    if (!this.options.redis) return false;
    try {
      return (await this.options.redis.exists(this.key(principal))) === 1;
    } catch {
      return true;
    }
  }

  private key(principal: string): string {
    return `${this.options.namespace}:orders:wrote:${principal}`;
  }

  private prune(): void {
    const now = Date.now();
    for (const [principal, until] of this.local) if (until <= now) this.local.delete(principal);
  }
}

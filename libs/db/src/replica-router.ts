/**
 * Routes reads between the primary and a streaming replica (docs/architecture.md, Catalog reads: cache and replica):
 * - reads that may be slightly stale go to the replica while it is healthy and its lag is under a bound;
 * - the replica's health and lag are checked in the background (`now() - pg_last_xact_replay_timestamp()`,
 *   counted as zero when everything received has been replayed, so an idle primary does not look like lag);
 * - a read that fails to reach the replica is retried on the primary at once, and the replica is marked down;
 * - `readOrPrimary` retries a miss on the primary before reporting it, so a row written a moment ago is never
 *   reported missing;
 * - `fresh` reads (a customer's read right after their own write) go to the primary, or to a healthy replica
 *   when the primary does not answer (a possibly stale answer beats none while the primary is down).
 */
import { sql } from 'drizzle-orm';
import { isConnectionError } from './errors.ts';
import type { Db } from './types.ts';

export interface ReplicaRouterOptions {
  primary: Db;
  /** omit when there is no replica: everything reads from the primary */
  replica?: Db;
  maxLagMs?: number;
  checkIntervalMs?: number;
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

export interface ReplicaState {
  configured: boolean;
  healthy: boolean;
  lagMs: number | null;
  reason: string;
  checkedAt: number;
}

export interface RouterStats {
  replicaReads: number;
  primaryReads: number;
  /** misses on the replica retried on the primary */
  missRetries: number;
  /** replica reads that failed and were retried on the primary */
  replicaFailures: number;
}

export interface ReadOptions {
  /** read from the primary: the caller just wrote, or the data changed a moment ago */
  fresh?: boolean;
}

export class ReplicaRouter {
  readonly primary: Db;
  readonly stats: RouterStats = { replicaReads: 0, primaryReads: 0, missRetries: 0, replicaFailures: 0 };
  private readonly replica: Db | undefined;
  private readonly maxLagMs: number;
  private readonly checkIntervalMs: number;
  private readonly log: ReplicaRouterOptions['log'];
  private state: ReplicaState;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;

  constructor(options: ReplicaRouterOptions) {
    this.primary = options.primary;
    this.replica = options.replica;
    this.maxLagMs = options.maxLagMs ?? 1_000;
    this.checkIntervalMs = options.checkIntervalMs ?? 1_000;
    this.log = options.log;
    this.state = {
      configured: Boolean(options.replica),
      healthy: false,
      lagMs: null,
      reason: options.replica ? 'not checked yet' : 'no replica configured',
      checkedAt: 0,
    };
  }

  get replicaState(): Readonly<ReplicaState> {
    return this.state;
  }

  /** The bound on how stale a replica read may be; callers use it to decide when data is "fresh". */
  get lagBoundMs(): number {
    return this.maxLagMs;
  }

  async start(): Promise<void> {
    if (!this.replica) return;
    await this.check();
    this.timer = setInterval(() => void this.check(), this.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Runs one health check now (the background loop does this every checkIntervalMs). */
  check(): Promise<void> {
    this.checking ??= this.runCheck().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  /** Runs a read on the replica when it is usable, otherwise (or if the replica fails) on the primary. */
  async read<T>(query: (db: Db) => Promise<T>, options: ReadOptions = {}): Promise<T> {
    if (options.fresh || !this.replica || !this.state.healthy) {
      try {
        this.stats.primaryReads++;
        return await query(this.primary);
      } catch (error) {
        // Fresh is a preference: with the primary down, a healthy replica's answer beats no answer.
        if (!this.replica || !this.state.healthy || !isConnectionError(error)) throw error;
        this.stats.replicaReads++;
        return query(this.replica);
      }
    }
    try {
      const result = await query(this.replica);
      this.stats.replicaReads++;
      return result;
    } catch (error) {
      if (!isConnectionError(error)) throw error;
      this.stats.replicaFailures++;
      this.markDown(`read failed: ${(error as Error).message}`);
      this.stats.primaryReads++;
      return query(this.primary);
    }
  }

  /** Like read(), but a miss (undefined) on the replica is asked again of the primary before it is believed. */
  async readOrPrimary<T>(query: (db: Db) => Promise<T | undefined>, options: ReadOptions = {}): Promise<T | undefined> {
    const viaReplica = !options.fresh && this.replica && this.state.healthy;
    const result = await this.read(query, options);
    if (result !== undefined || !viaReplica) return result;
    this.stats.missRetries++;
    this.stats.primaryReads++;
    return query(this.primary);
  }

  private markDown(reason: string) {
    if (this.state.healthy) this.log?.warn({ reason }, 'replica unusable: reading from the primary');
    this.state = { ...this.state, healthy: false, reason, checkedAt: Date.now() };
  }

  private async runCheck(): Promise<void> {
    if (!this.replica) return;
    try {
      const result = await this.replica.execute(sql`
        select pg_is_in_recovery() as in_recovery,
          case
            when not pg_is_in_recovery() then 0
            when pg_last_wal_receive_lsn() is not null and pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0
            else coalesce(extract(epoch from (now() - pg_last_xact_replay_timestamp())) * 1000, 0)
          end::float8 as lag_ms`);
      const row = (result as unknown as { rows: { lag_ms: number | string }[] }).rows[0];
      const lagMs = Number(row?.lag_ms ?? 0);
      if (lagMs > this.maxLagMs) {
        this.markDown(`lagging ${Math.round(lagMs)} ms (bound ${this.maxLagMs} ms)`);
        this.state = { ...this.state, lagMs };
        return;
      }
      if (!this.state.healthy) this.log?.info({ lagMs }, 'replica healthy: reading from the replica');
      this.state = { configured: true, healthy: true, lagMs, reason: 'ok', checkedAt: Date.now() };
    } catch (error) {
      this.markDown(`health check failed: ${(error as Error).message}`);
    }
  }
}

/**
 * One open live status stream (GET /api/orders/:id/events) and the set of them an app keeps so it can end them
 * when it closes.
 *
 * The stream sends the order's status_history rows after a cursor, oldest first, reading them from the PRIMARY,
 * and moves the cursor past each row it writes. A status feed message only wakes it up; so does a timer (the
 * fallback when a message is lost or Redis is away). Reading "rows after the last id sent" makes every change
 * arrive exactly once and in order however the wake-ups come: duplicated, lost, reordered or none. That holds
 * because one order's history ids are drawn in commit order (each row is appended under the order's row lock;
 * see appendHistory), so a row with a smaller id can never commit after a larger one was read.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '@securecart/db';
import { historyAfter } from '../db/orders-repo.ts';
import type { OrderStatus } from '../domain/order-status.ts';
import { closesStream, formatStatusEvent, HEARTBEAT } from '../domain/status-events.ts';
import type { OrderStatusFeed } from '../status-feed.ts';

export interface StatusStreamTiming {
  /** a comment line this often keeps proxies and load balancers from closing an idle connection */
  heartbeatMs: number;
  /** how often the stream looks at the history without being woken */
  pollMs: number;
}

export interface StatusStreamOptions extends StatusStreamTiming {
  raw: ServerResponse;
  primary: Db;
  orderId: string;
  /** the last history id the client has: rows after it are sent */
  after: number;
  feed?: OrderStatusFeed | undefined;
  log: FastifyBaseLogger;
}

const BATCH = 100;

export class StatusStream {
  private readonly options: StatusStreamOptions;
  private after: number;
  private lastStatus: OrderStatus | undefined;
  private ended = false;
  private pumping = false;
  private wokenWhilePumping = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void) | undefined;
  private readonly finished: Promise<void>;

  constructor(options: StatusStreamOptions) {
    this.options = options;
    this.after = options.after;
    this.finished = new Promise((resolve) => options.raw.once('close', resolve));
  }

  /** Subscribes before the first read, so a change committed in between is not missed. */
  start(): void {
    const { raw, feed, orderId, heartbeatMs, pollMs } = this.options;
    raw.once('close', () => this.end()); // the client went away, or the response ended
    this.unsubscribe = feed?.subscribe(orderId, () => this.wake());
    this.timers.push(
      setInterval(() => this.write(HEARTBEAT), heartbeatMs),
      setInterval(() => this.wake(), pollMs),
    );
    this.wake();
  }

  /** Looks for new history rows now (or right after the look in progress). */
  wake(): void {
    if (this.ended) return;
    if (this.pumping) {
      this.wokenWhilePumping = true;
      return;
    }
    this.pumping = true;
    void this.pump().finally(() => {
      this.pumping = false;
      if (this.wokenWhilePumping) {
        this.wokenWhilePumping = false;
        this.wake();
      }
    });
  }

  /** Stops timers and the subscription and ends the response; resolves once the connection has let go of it. */
  end(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      for (const timer of this.timers) clearInterval(timer);
      this.unsubscribe?.();
      if (!this.options.raw.writableEnded) this.options.raw.end();
    }
    return this.finished;
  }

  private async pump(): Promise<void> {
    const { primary, orderId, log } = this.options;
    try {
      for (;;) {
        const rows = await historyAfter(primary, orderId, this.after, BATCH);
        if (this.ended) return;
        for (const row of rows) {
          this.write(formatStatusEvent(row));
          this.after = row.id;
          this.lastStatus = row.status;
        }
        if (rows.length < BATCH) break;
      }
      if (this.lastStatus && closesStream(this.lastStatus)) await this.end();
    } catch (error) {
      // The primary is away: the stream stays open and the next timer tick tries again.
      log.warn({ err: error, orderId }, 'status stream: reading the history failed');
    }
  }

  private write(chunk: string): void {
    if (!this.ended) this.options.raw.write(chunk);
  }
}

/** The streams an app has open, so that closing the app (graceful shutdown) can end them. */
export class OpenStatusStreams {
  private readonly streams = new Set<StatusStream>();
  private closing = false;

  get size(): number {
    return this.streams.size;
  }

  /** Starts the stream, unless the app is closing: then it is ended at once. */
  start(stream: StatusStream, raw: ServerResponse): void {
    if (this.closing) {
      void stream.end();
      return;
    }
    this.streams.add(stream);
    raw.once('close', () => this.streams.delete(stream));
    stream.start();
  }

  /** Ends every stream and waits (at most `timeoutMs`) until their responses are done; later ones end at once. */
  async endAll(timeoutMs = 2_000): Promise<void> {
    this.closing = true;
    const ending = Promise.all([...this.streams].map((stream) => stream.end()));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ending, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }
}

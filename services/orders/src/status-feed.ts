/**
 * The order status feed (docs/architecture.md): every committed status change (intake's PLACED, the fulfillment
 * transitions, cancel, refund) is announced after its commit, so that a live status stream on any orders task
 * hears of it at once. A message is only a wake-up: the stream reads what changed from status_history on the
 * primary, so a lost, duplicated or reordered message costs latency, never correctness (the stream also polls).
 *
 * Two implementations of one port: Redis pub/sub across tasks (one channel per order, one subscriber connection
 * per process, subscriptions reference-counted), and an EventEmitter for a single process (embedded mode).
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { OrderStatus } from './domain/order-status.ts';

export interface OrderStatusChange {
  orderId: string;
  status: OrderStatus;
  reason: string | null;
  /** ISO 8601 */
  at: string;
  /** the status_history row: the stream's event id */
  historyId: number;
}

/**
 * Called with the change, or with undefined when changes may have been missed (the subscription has just become
 * active, or came back after Redis was away): either way the listener should look at status_history again.
 */
export type StatusListener = (change: OrderStatusChange | undefined) => void;

export interface OrderStatusFeed {
  publish(change: OrderStatusChange): Promise<void>;
  /** returns the unsubscribe function */
  subscribe(orderId: string, listener: StatusListener): () => void;
  close(): Promise<void>;
}

interface FeedLog {
  warn(obj: object, msg: string): void;
}

/** Publishes after a commit; a failure is logged and swallowed: the change is committed, and streams poll. */
export async function announceStatusChange(feed: OrderStatusFeed | undefined, change: OrderStatusChange, log?: FeedLog): Promise<void> {
  if (!feed) return;
  try {
    await feed.publish(change);
  } catch (error) {
    log?.warn({ err: error, orderId: change.orderId, status: change.status }, 'status change not published: live streams see it on their next poll');
  }
}

export const statusChannel = (namespace: string, orderId: string) => `${namespace}:order-status:${orderId}`;

export interface RedisOrderStatusFeedOptions {
  /** publishes; the subscriber connection is a duplicate of it, opened on the first subscribe */
  redis: Redis;
  /** prefix of the channels (CACHE_NAMESPACE) */
  namespace: string;
  log?: FeedLog;
}

export class RedisOrderStatusFeed implements OrderStatusFeed {
  private readonly options: RedisOrderStatusFeedOptions;
  /** listeners by channel: the source of truth for what the subscriber connection should be subscribed to */
  private readonly listeners = new Map<string, Set<StatusListener>>();
  private subscriber: Redis | undefined;
  private closed = false;

  constructor(options: RedisOrderStatusFeedOptions) {
    this.options = options;
  }

  async publish(change: OrderStatusChange): Promise<void> {
    await this.options.redis.publish(statusChannel(this.options.namespace, change.orderId), JSON.stringify(change));
  }

  subscribe(orderId: string, listener: StatusListener): () => void {
    if (this.closed) throw new Error('the status feed is closed');
    const channel = statusChannel(this.options.namespace, orderId);
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      this.sendSubscribe([channel]);
    }
    set.add(listener);
    const listeners = set;
    return () => {
      listeners.delete(listener);
      if (listeners.size > 0 || this.listeners.get(channel) !== listeners) return;
      this.listeners.delete(channel);
      if (this.subscriber?.status === 'ready') this.subscriber.unsubscribe(channel).catch(() => undefined);
    };
  }

  /** Closes the subscriber connection (the publishing one belongs to the caller). */
  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber) await subscriber.quit().catch(() => subscriber.disconnect());
  }

  private connection(): Redis {
    if (this.subscriber) return this.subscriber;
    // Pub/sub takes a connection of its own. Commands are never queued while it is down, and ioredis does not
    // resubscribe by itself: on 'ready' (the first connect, or after an outage) every channel in `listeners`, and
    // only those, is subscribed again and its listeners woken, since messages published meanwhile are lost.
    const name = this.options.redis.options.connectionName;
    const subscriber = this.options.redis.duplicate({
      lazyConnect: true,
      enableOfflineQueue: false,
      autoResubscribe: false,
      connectionName: name ? `${name}-status-feed` : 'status-feed',
    });
    subscriber.on('error', () => undefined); // reconnects on its own; failures surface as failed subscribes
    subscriber.on('ready', () => this.sendSubscribe([...this.listeners.keys()]));
    subscriber.on('message', (channel: string, message: string) => this.deliver(channel, parseChange(message)));
    subscriber.connect().catch((error: unknown) => this.options.log?.warn({ err: error }, 'status feed: Redis subscriber not connected yet; streams poll meanwhile'));
    this.subscriber = subscriber;
    return subscriber;
  }

  private sendSubscribe(channels: string[]): void {
    if (this.closed || channels.length === 0) return;
    const subscriber = this.connection();
    if (subscriber.status !== 'ready') return; // done on 'ready'
    subscriber.subscribe(...channels).then(
      () => {
        for (const channel of channels) this.deliver(channel, undefined);
      },
      (error: unknown) => this.options.log?.warn({ err: error, channels: channels.length }, 'status feed: subscribe failed; streams poll meanwhile'),
    );
  }

  private deliver(channel: string, change: OrderStatusChange | undefined): void {
    const set = this.listeners.get(channel);
    if (!set) return;
    for (const listener of [...set]) listener(change);
  }
}

function parseChange(message: string): OrderStatusChange | undefined {
  try {
    const value = JSON.parse(message) as OrderStatusChange;
    return value && typeof value === 'object' && typeof value.historyId === 'number' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** One process (embedded mode without Redis): an EventEmitter does what Redis pub/sub does across tasks. */
export class InProcessOrderStatusFeed implements OrderStatusFeed {
  private readonly bus = new EventEmitter().setMaxListeners(0);

  async publish(change: OrderStatusChange): Promise<void> {
    this.bus.emit(change.orderId, change);
  }

  subscribe(orderId: string, listener: StatusListener): () => void {
    this.bus.on(orderId, listener);
    return () => {
      this.bus.off(orderId, listener);
    };
  }

  async close(): Promise<void> {
    this.bus.removeAllListeners();
  }
}

/** The change a history row records. */
export function statusChangeOf(row: { id: number; orderId: string; status: OrderStatus; reason: string | null; at: Date }): OrderStatusChange {
  return { orderId: row.orderId, status: row.status, reason: row.reason, at: row.at.toISOString(), historyId: row.id };
}

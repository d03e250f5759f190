/**
 * Queue consumers on sqs-consumer: batches of up to 10 handled concurrently (events about one subject, an order, one
 * after another in the order they happened), the visibility timeout extended
 * while a handler runs long (heartbeat), and on failure the message made visible again after an exponential
 * backoff (2^receives seconds, at most 15 min) rather than at once. After maxReceiveCount receives SQS moves it to
 * the dead-letter queue; each failure is logged with its reason. Handlers are looked up by event type; a message
 * that is not a valid envelope, or that no handler takes, fails the same way, so it ends in the DLQ, not lost.
 * A handler that finds its message early (a fact before its order) returns retryLater(): the message comes back
 * the same way, but counted and logged as deferred, not as a failure.
 *
 * A type may also have a batch handler: the events of that type in one received batch are then handed over
 * together (one transaction for ten orders, say). A batch handler is all or nothing; when it throws, each of its
 * events is handled again on its own by the type's handler, so one bad message fails alone and the rest go through.
 *
 * With tracing on, each message is handled inside a CONSUMER span under its event's traceparent (the publisher's
 * span), and a batch inside one span linked to each of its events.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import { Consumer } from 'sqs-consumer';
import { ChangeMessageVisibilityBatchCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { EventName } from '@securecart/contracts';
import { inSpan, tracingEnabled } from '@securecart/telemetry';
import { eventNameOf, parseEvent, type CloudEvent } from './envelope.ts';

export interface HandlerContext {
  /** how many times SQS has handed this message out, this time included */
  receiveCount: number;
  /** the SQS message id: the same on every delivery of one message (a redelivery is the same delivery, tried again) */
  messageId?: string;
}

/**
 * What a handler says of a message, besides throwing (a failure: logged as a warning, counted
 * `outcome="failed"`, retried after its backoff, dead-lettered after maxReceiveCount receives):
 * - nothing: handled, the message is deleted;
 * - retry later: the message is fine but came too early (a fact before its order): it comes back after
 *   `delaySeconds` (default: the backoff), is logged at info level and counted `outcome="retry_later"`, so alerts on
 *   failures stay for real failures. It still counts towards maxReceiveCount.
 */
export type HandlerResult = void | { outcome: 'retry-later'; reason: string; delaySeconds?: number };

/** A handler of one event type: its event is typed by that type's schema. */
export type EventHandler<N extends EventName = EventName> = (event: CloudEvent<N>, context: HandlerContext) => Promise<HandlerResult>;

/** The handlers of a queue, one per event type it takes. */
export type EventHandlers = { [N in EventName]?: EventHandler<N> };

export const retryLater = (reason: string, delaySeconds?: number): HandlerResult => ({ outcome: 'retry-later', reason, ...(delaySeconds === undefined ? {} : { delaySeconds }) });

/** Thrown inside the consumer for a retry-later, to send the message back with its own delay. */
class RetryLater extends Error {
  override name = 'RetryLater';
  readonly delaySeconds: number | undefined;
  constructor(reason: string, delaySeconds: number | undefined) {
    super(reason);
    this.delaySeconds = delaySeconds;
  }
}

/** Handles several events of one type at once, atomically: it either handles them all or throws having changed nothing. */
export type BatchEventHandler = (events: CloudEvent[]) => Promise<void>;

export interface QueueConsumerOptions {
  sqs: SQSClient;
  queueUrl: string;
  handlers: EventHandlers;
  /** for types that are cheaper handled together; a type with a batch handler must have a handler too (the fallback) */
  batchHandlers?: Partial<Record<EventName, BatchEventHandler>>;
  batchSize?: number;
  /** receive loops on the queue: each takes a batch and handles it concurrently, so at most pollers x batchSize
   * messages are in flight */
  pollers?: number;
  visibilityTimeoutSeconds?: number;
  /** how long stop() waits for handlers in flight */
  drainTimeoutMs?: number;
  /** seconds before a failed message is received again (default: exponential, backoffSeconds) */
  retryDelaySeconds?: (receiveCount: number) => number;
  /** where to count messages by queue, type and outcome, and time their handling */
  metrics?: Registry;
  /** the queue's name in metrics and logs */
  queueName?: string;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export interface ConsumerStats {
  handled: Partial<Record<string, number>>;
  /** retry-later: came too early, sent back */
  deferred: Partial<Record<string, number>>;
  failed: Partial<Record<string, number>>;
}

const receiveCountOf = (message: Message) => Number(message.Attributes?.ApproximateReceiveCount ?? 1);

export function backoffSeconds(receiveCount: number): number {
  return Math.min(2 ** receiveCount, 900);
}

export class QueueConsumer {
  readonly stats: ConsumerStats = { handled: {}, deferred: {}, failed: {} };
  private readonly consumers: Consumer[];
  private readonly options: QueueConsumerOptions;
  private readonly counted: Counter<'queue' | 'type' | 'outcome'> | undefined;
  private readonly timed: Histogram<'queue' | 'type'> | undefined;

  constructor(options: QueueConsumerOptions) {
    this.options = options;
    if (options.metrics) {
      const registers = [options.metrics];
      // Several consumers of one worker (one per queue) share a registry: the metrics are labelled by queue.
      const existing = (name: string) => options.metrics?.getSingleMetric(name);
      this.counted =
        (existing('queue_messages_total') as Counter<'queue' | 'type' | 'outcome'> | undefined) ??
        new Counter({ name: 'queue_messages_total', help: 'Messages handled, by queue, event type and outcome', labelNames: ['queue', 'type', 'outcome'], registers });
      this.timed = (existing('queue_message_duration_seconds') as Histogram<'queue' | 'type'> | undefined) ?? new Histogram({
        name: 'queue_message_duration_seconds',
        help: 'Time to handle a message, by queue and event type',
        labelNames: ['queue', 'type'],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers,
      });
    }
    const visibilityTimeout = options.visibilityTimeoutSeconds ?? 30;
    this.consumers = Array.from({ length: options.pollers ?? 2 }, () => {
      const consumer = Consumer.create({
        sqs: options.sqs,
        queueUrl: options.queueUrl,
        batchSize: options.batchSize ?? 10,
        visibilityTimeout,
        heartbeatInterval: Math.max(1, Math.floor(visibilityTimeout / 3)),
        waitTimeSeconds: 1,
        pollingCompleteWaitTimeMs: options.drainTimeoutMs ?? 20_000,
        messageSystemAttributeNames: ['ApproximateReceiveCount'],
        terminateVisibilityTimeout: (messages) => this.retryDelay(Math.max(...messages.map(receiveCountOf))),
        // The batch's messages are handled concurrently, each on its own: the handled ones are deleted with one
        // DeleteMessageBatch, the failed ones made visible again after their backoff with one
        // ChangeMessageVisibilityBatch. (One DeleteMessage per message was a large share of a worker's CPU.)
        handleMessageBatch: async (messages) => {
          const together = await this.handleTogether(messages);
          const alone = messages.filter((message) => !together.has(message));
          const outcomes = await Promise.allSettled(this.handleInSubjectOrder(alone));
          const failed = alone.flatMap((message, i) => {
            const outcome = outcomes[i]!;
            if (outcome.status === 'fulfilled') return [];
            const delaySeconds = outcome.reason instanceof RetryLater ? outcome.reason.delaySeconds : undefined;
            return [{ message, delaySeconds: delaySeconds ?? this.retryDelay(receiveCountOf(message)) }];
          });
          if (failed.length > 0) await this.sendBack(failed);
          return [...together, ...alone.filter((_, i) => outcomes[i]!.status === 'fulfilled')];
        },
      });
      consumer.on('error', (error) => options.log?.warn({ err: error, queue: options.queueUrl }, 'queue consumer error'));
      consumer.on('processing_error', () => undefined); // logged in handle() with the reason
      return consumer;
    });
  }

  start(): void {
    for (const consumer of this.consumers) consumer.start();
  }

  private retryDelay(receiveCount: number): number {
    return (this.options.retryDelaySeconds ?? backoffSeconds)(receiveCount);
  }

  /** Failed and deferred messages come back after their delay, not after the whole visibility timeout. */
  private async sendBack(messages: { message: Message; delaySeconds: number }[]): Promise<void> {
    const result = await this.options.sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: this.options.queueUrl,
        Entries: messages.map(({ message, delaySeconds }, i) => ({
          Id: String(i),
          ReceiptHandle: message.ReceiptHandle!,
          VisibilityTimeout: Math.min(Math.max(0, Math.round(delaySeconds)), 43_200),
        })),
      }),
    );
    if (result.Failed?.length) {
      this.options.log?.warn({ failed: result.Failed.length, queue: this.options.queueUrl }, 'could not delay the retry of some messages: they return after the visibility timeout');
    }
  }

  /** Stops polling and waits (up to drainTimeoutMs) for the messages in flight. */
  async stop(): Promise<void> {
    await Promise.all(
      this.consumers
        .filter((consumer) => consumer.status.isRunning)
        .map((consumer) => {
          const stopped = new Promise<void>((resolve) => consumer.once('stopped', () => resolve()));
          consumer.stop();
          return stopped;
        }),
    );
  }

  get running(): boolean {
    return this.consumers.every((consumer) => consumer.status.isRunning);
  }

  /**
   * Hands the events of each type that has a batch handler to it together (when there are two or more). Returns
   * the messages so handled; the rest, including those of a batch that failed, are for handle().
   */
  private async handleTogether(messages: Message[]): Promise<Set<Message>> {
    const handled = new Set<Message>();
    const batchHandlers = this.options.batchHandlers;
    if (!batchHandlers || messages.length < 2) return handled;
    const groups = new Map<EventName, { message: Message; event: CloudEvent }[]>();
    for (const message of messages) {
      let event: CloudEvent;
      try {
        event = parseEvent(message.Body ?? '');
      } catch {
        continue; // fails in handle(), with its reason logged
      }
      const name = eventNameOf(event.type)!;
      if (!batchHandlers[name] || !this.options.handlers[name]) continue;
      groups.set(name, [...(groups.get(name) ?? []), { message, event }]);
    }
    const queue = this.options.queueName ?? 'queue';
    for (const [name, group] of groups) {
      if (group.length < 2) continue;
      const started = process.hrtime.bigint();
      const events = group.map((entry) => entry.event);
      try {
        if (tracingEnabled()) {
          await inSpan(
            `process ${queue}`,
            {
              kind: 'consumer',
              links: events.map((event) => event.traceparent),
              attributes: { ...this.spanAttributes(queue), 'messaging.batch.message_count': events.length, 'cloudevents.event_type': events[0]!.type },
            },
            () => batchHandlers[name]!(events),
          );
        } else {
          await batchHandlers[name]!(events);
        }
      } catch (error) {
        this.options.log?.warn({ err: error, type: group[0]!.event.type, messages: group.length }, `batch failed, handling its messages one by one: ${(error as Error).message}`);
        continue;
      }
      // Each message of the batch took the batch's time.
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      for (const { message, event } of group) {
        handled.add(message);
        this.stats.handled[event.type] = (this.stats.handled[event.type] ?? 0) + 1;
        this.counted?.inc({ queue, type: event.type, outcome: 'handled' });
        this.timed?.observe({ queue, type: event.type }, seconds);
      }
    }
    return handled;
  }

  /**
   * Starts handling each message: messages about different subjects (orders) concurrently, those about the same subject
   * one after another, oldest event first. Two facts about one order in one batch (payment.captured and
   * shipment.created, published moments apart) then apply in the order they happened, instead of racing for the
   * order's lock and sending the later one back to wait for its backoff. Returns one promise per message, in order.
   */
  private handleInSubjectOrder(messages: Message[]): Promise<void>[] {
    const parsed = new Map<Message, CloudEvent>();
    for (const message of messages) {
      try {
        parsed.set(message, parseEvent(message.Body ?? ''));
      } catch {
        // handle() fails it with its reason
      }
    }
    const time = (message: Message) => parsed.get(message)?.time ?? '';
    const byTime = [...messages].sort((a, b) => (time(a) < time(b) ? -1 : time(a) > time(b) ? 1 : 0));
    const last = new Map<string, Promise<void>>();
    const started = new Map<Message, Promise<void>>();
    for (const message of byTime) {
      const subject = parsed.get(message)?.subject;
      const before = subject === undefined ? undefined : last.get(subject);
      const handling = before ? before.then(() => this.handle(message)) : this.handle(message);
      started.set(message, handling);
      if (subject !== undefined) last.set(subject, handling.catch(() => undefined));
    }
    return messages.map((message) => started.get(message)!);
  }

  private spanAttributes(queue: string) {
    return { 'messaging.system': 'aws_sqs', 'messaging.operation.type': 'process', 'messaging.destination.name': queue };
  }

  private async handle(message: Message): Promise<void> {
    const receiveCount = receiveCountOf(message);
    const queue = this.options.queueName ?? 'queue';
    const started = process.hrtime.bigint();
    let type = 'unparsed';
    try {
      const event = parseEvent(message.Body ?? '');
      type = event.type;
      const handler = this.options.handlers[eventNameOf(event.type)!] as EventHandler | undefined;
      let result: HandlerResult;
      if (tracingEnabled()) {
        result = await inSpan(
          `process ${queue}`,
          {
            kind: 'consumer',
            parent: event.traceparent,
            attributes: { ...this.spanAttributes(queue), 'messaging.message.id': message.MessageId, 'cloudevents.event_id': event.id, 'cloudevents.event_type': event.type },
          },
          () => dispatch(handler, event, { receiveCount, messageId: message.MessageId }),
        );
      } else {
        result = await dispatch(handler, event, { receiveCount, messageId: message.MessageId });
      }
      if (result?.outcome === 'retry-later') {
        this.stats.deferred[type] = (this.stats.deferred[type] ?? 0) + 1;
        this.counted?.inc({ queue, type, outcome: 'retry_later' });
        const retryInSeconds = result.delaySeconds ?? this.retryDelay(receiveCount);
        this.options.log?.info({ messageId: message.MessageId, type, receiveCount, retryInSeconds }, `message deferred: ${result.reason}`);
        throw new RetryLater(result.reason, result.delaySeconds);
      }
      this.stats.handled[type] = (this.stats.handled[type] ?? 0) + 1;
      this.counted?.inc({ queue, type, outcome: 'handled' });
      this.timed?.observe({ queue, type }, Number(process.hrtime.bigint() - started) / 1e9);
    } catch (error) {
      if (error instanceof RetryLater) throw error;
      this.stats.failed[type] = (this.stats.failed[type] ?? 0) + 1;
      this.counted?.inc({ queue, type, outcome: 'failed' });
      this.options.log?.warn(
        { err: error, messageId: message.MessageId, type, receiveCount, retryInSeconds: (this.options.retryDelaySeconds ?? backoffSeconds)(receiveCount) },
        `message failed: ${(error as Error).message}`,
      );
      throw error;
    }
  }
}

async function dispatch(handler: EventHandler | undefined, event: CloudEvent, context: HandlerContext): Promise<HandlerResult> {
  if (!handler) throw new Error(`no handler for ${event.type} on this queue`);
  return handler(event, context);
}

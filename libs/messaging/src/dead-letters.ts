/**
 * The operator's view of the dead-letter queues: how many dead letters wait behind each topology queue,
 * what they are, and moving them back to their queue once the cause is fixed. Used by `pnpm ops dlq`.
 *
 * A queue is found by name (`<prefix><queue>`: MESSAGING_PREFIX on an emulator, the deployment's prefix in AWS) or
 * by an explicit URL; its dead-letter queue is the target of its redrive policy, so it is never guessed.
 *
 * Inspecting is a receive: it cannot be done without one in SQS. Dead letters are received with a short visibility
 * timeout and made visible again at once, so they stay where they are; each inspection adds one to their receive
 * count. A redrive sends each dead letter's body and message attributes to the source queue and deletes it from the
 * dead-letter queue only after that send succeeded: a crash in between delivers it twice, which idempotent
 * consumers absorb. Where the endpoint supports SQS's own message move task (AWS), a full redrive uses it.
 */
import {
  ChangeMessageVisibilityBatchCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, GetQueueUrlCommand, ListMessageMoveTasksCommand,
  ReceiveMessageCommand, SendMessageCommand, StartMessageMoveTaskCommand, type Message, type MessageAttributeValue, type SQSClient,
} from '@aws-sdk/client-sqs';
import { TOPOLOGY, type QueueName } from './topology.ts';

export const QUEUE_NAMES = Object.keys(TOPOLOGY.queues) as QueueName[];

export const isQueueName = (name: string): name is QueueName => (QUEUE_NAMES as string[]).includes(name);

export class UnknownQueueError extends Error {
  override name = 'UnknownQueueError';
  constructor(queue: string) {
    super(`unknown queue "${queue}"; the queues are: ${QUEUE_NAMES.join(', ')}`);
  }
}

/** A queue or its dead-letter queue cannot be found, or has no redrive policy. */
export class DeadLetterQueueNotFoundError extends Error {
  override name = 'DeadLetterQueueNotFoundError';
}

export interface DeadLetterQueuePair {
  queue: QueueName;
  queueUrl: string;
  deadLetterQueueUrl: string;
}

export interface LocateOptions {
  /** queues are named `<namePrefix><queue>` */
  namePrefix?: string;
  /** the queue's URL, instead of finding it by name */
  queueUrl?: string | undefined;
  /** the dead-letter queue's URL, instead of the queue's redrive policy */
  deadLetterQueueUrl?: string | undefined;
}

const errorName = (error: unknown) => (error as { name?: string } | null)?.name ?? '';

async function urlOfQueueNamed(sqs: SQSClient, name: string, owner?: string): Promise<string> {
  try {
    const found = await sqs.send(new GetQueueUrlCommand({ QueueName: name, ...(owner ? { QueueOwnerAWSAccountId: owner } : {}) }));
    return found.QueueUrl!;
  } catch (error) {
    if (errorName(error) === 'QueueDoesNotExist') throw new DeadLetterQueueNotFoundError(`no queue named "${name}" on this endpoint`);
    throw error;
  }
}

/** The URLs of a topology queue and of its dead-letter queue. */
export async function locateDeadLetterQueue(sqs: SQSClient, queue: string, options: LocateOptions = {}): Promise<DeadLetterQueuePair> {
  if (!isQueueName(queue)) throw new UnknownQueueError(queue);
  const queueUrl = options.queueUrl ?? (await urlOfQueueNamed(sqs, `${options.namePrefix ?? ''}${queue}`));
  if (options.deadLetterQueueUrl) return { queue, queueUrl, deadLetterQueueUrl: options.deadLetterQueueUrl };
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['RedrivePolicy'] }));
  let target: string | undefined;
  try {
    target = (JSON.parse(Attributes?.RedrivePolicy ?? '{}') as { deadLetterTargetArn?: string }).deadLetterTargetArn;
  } catch {
    // an unreadable policy is reported as none below
  }
  // arn:aws:sqs:<region>:<account>:<name>
  const [, , , , account, name] = target?.split(':') ?? [];
  if (!name) throw new DeadLetterQueueNotFoundError(`queue ${queue} (${queueUrl}) has no redrive policy naming a dead-letter queue`);
  return { queue, queueUrl, deadLetterQueueUrl: await urlOfQueueNamed(sqs, name, account) };
}

export interface QueueDepth {
  /** ApproximateNumberOfMessages: waiting to be received */
  visible: number;
  /** ApproximateNumberOfMessagesNotVisible: received, neither deleted nor visible again yet */
  inFlight: number;
  /** ApproximateNumberOfMessagesDelayed */
  delayed: number;
}

export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<QueueDepth> {
  const { Attributes: a = {} } = await sqs.send(new GetQueueAttributesCommand({
    QueueUrl: queueUrl,
    AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
  }));
  return {
    visible: Number(a.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(a.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

export interface DeadLetterQueueStatus extends DeadLetterQueuePair {
  deadLetters: QueueDepth;
  source: QueueDepth;
  /**
   * Seconds since the oldest dead letter in a sample of up to ten was first sent (SentTimestamp survives the move to
   * the dead-letter queue, whose retention counts from it). Null when the dead-letter queue is empty. SQS has no such
   * attribute for a queue; in AWS the CloudWatch metric ApproximateAgeOfOldestMessage is the exact figure.
   */
  oldestDeadLetterAgeSeconds: number | null;
}

export type DeadLetterQueueListing = { queue: QueueName; status: DeadLetterQueueStatus; error?: undefined } | { queue: QueueName; status?: undefined; error: string };

export async function deadLetterQueueStatus(sqs: SQSClient, pair: DeadLetterQueuePair, now: () => number = Date.now): Promise<DeadLetterQueueStatus> {
  const [deadLetters, source] = await Promise.all([queueDepth(sqs, pair.deadLetterQueueUrl), queueDepth(sqs, pair.queueUrl)]);
  let oldestDeadLetterAgeSeconds: number | null = null;
  if (deadLetters.visible > 0) {
    const sentAt = (await peekDeadLetters(sqs, pair, { limit: 10, maxReceives: 1 })).map((d) => d.sentAt).filter((t) => t !== null);
    if (sentAt.length) oldestDeadLetterAgeSeconds = Math.max(0, Math.round((now() - Math.min(...sentAt.map((t) => Date.parse(t)))) / 1000));
  }
  return { ...pair, deadLetters, source, oldestDeadLetterAgeSeconds };
}

/** `list`: every topology queue with its dead-letter depth; a queue that cannot be read is listed with the reason. */
export async function listDeadLetterQueues(sqs: SQSClient, options: { namePrefix?: string } = {}): Promise<DeadLetterQueueListing[]> {
  return Promise.all(
    QUEUE_NAMES.map(async (queue): Promise<DeadLetterQueueListing> => {
      try {
        return { queue, status: await deadLetterQueueStatus(sqs, await locateDeadLetterQueue(sqs, queue, options)) };
      } catch (error) {
        return { queue, error: (error as Error).message };
      }
    }),
  );
}

export interface DeadLetter {
  /** the SQS message id, which the consumer's "message failed" log lines carry as `messageId` */
  messageId: string;
  /** ApproximateReceiveCount: receives on the queue and on the dead-letter queue, this inspection included */
  receiveCount: number;
  /** when the message was first sent to the queue (SentTimestamp) */
  sentAt: string | null;
  /** when it was first received (ApproximateFirstReceiveTimestamp) */
  firstReceivedAt: string | null;
  /** the CloudEvent's identity, when the body is an envelope */
  event: { type: string; id: string; subject: string | null; time: string | null; source: string | null } | null;
  /** the body, truncated, when it is not an envelope */
  raw: string | null;
  /** message attributes (SNS raw delivery carries `type`, `traceparent`, ...) */
  attributes: Record<string, string>;
}

const RAW_LIMIT = 300;
const PEEK_VISIBILITY_SECONDS = 20;
const SYSTEM_ATTRIBUTES = ['ApproximateReceiveCount', 'SentTimestamp', 'ApproximateFirstReceiveTimestamp'] as const;

const timestamp = (value: string | undefined) => (value ? new Date(Number(value)).toISOString() : null);
const optionalString = (value: unknown) => (typeof value === 'string' ? value : null);

function deadLetterOf(message: Message): DeadLetter {
  const body = message.Body ?? '';
  let event: DeadLetter['event'] = null;
  try {
    const e = JSON.parse(body) as Record<string, unknown> | null;
    // Lenient on purpose: an envelope whose data failed validation is still worth naming by its type and id.
    if (e && typeof e === 'object' && typeof e.specversion === 'string' && typeof e.type === 'string' && typeof e.id === 'string') {
      event = { type: e.type, id: e.id, subject: optionalString(e.subject), time: optionalString(e.time), source: optionalString(e.source) };
    }
  } catch {
    // not JSON: shown raw
  }
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    attributes[name] = value.StringValue ?? `<${value.DataType ?? 'binary'}, ${value.BinaryValue?.length ?? 0} bytes>`;
  }
  return {
    messageId: message.MessageId!,
    receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 0),
    sentAt: timestamp(message.Attributes?.SentTimestamp),
    firstReceivedAt: timestamp(message.Attributes?.ApproximateFirstReceiveTimestamp),
    event,
    raw: event ? null : body.length > RAW_LIMIT ? `${body.slice(0, RAW_LIMIT)}… (${body.length} characters)` : body,
    attributes,
  };
}

async function receive(sqs: SQSClient, queueUrl: string, max: number, visibilitySeconds: number): Promise<Message[]> {
  const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({
    QueueUrl: queueUrl,
    MaxNumberOfMessages: Math.min(10, max),
    VisibilityTimeout: visibilitySeconds,
    // a long poll asks every SQS server; a short one samples a few and may answer empty on a queue that is not
    WaitTimeSeconds: 1,
    MessageAttributeNames: ['All'],
    MessageSystemAttributeNames: [...SYSTEM_ATTRIBUTES],
  }));
  return Messages;
}

/** Makes received messages visible again at once. */
async function release(sqs: SQSClient, queueUrl: string, messages: Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const batch = messages.slice(i, i + 10);
    await sqs.send(new ChangeMessageVisibilityBatchCommand({
      QueueUrl: queueUrl,
      Entries: batch.map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 })),
    }));
  }
}

/** Receives up to `limit` distinct messages, holds them while receiving more, then releases them all. */
async function peek(sqs: SQSClient, queueUrl: string, limit: number, maxReceives = Infinity): Promise<Message[]> {
  const held = new Map<string, Message>();
  try {
    for (let receives = 0; held.size < limit && receives < maxReceives; receives++) {
      const batch = await receive(sqs, queueUrl, limit - held.size, PEEK_VISIBILITY_SECONDS);
      const fresh = batch.filter((m) => !held.has(m.MessageId!));
      for (const m of batch) held.set(m.MessageId!, m); // a repeat (visible again) brings a newer receipt handle
      if (!fresh.length) break;
    }
  } finally {
    await release(sqs, queueUrl, [...held.values()]);
  }
  return [...held.values()];
}

/** `show`: the dead letters behind a queue, left where they are. */
export async function peekDeadLetters(sqs: SQSClient, pair: DeadLetterQueuePair, options: { limit?: number; maxReceives?: number } = {}): Promise<DeadLetter[]> {
  return (await peek(sqs, pair.deadLetterQueueUrl, options.limit ?? 10, options.maxReceives)).map(deadLetterOf);
}

export interface RedriveOptions {
  /** move at most this many (default: all that were dead before the redrive started) */
  limit?: number | undefined;
  /** count what would move, move nothing */
  dryRun?: boolean | undefined;
  /** `auto` uses SQS's message move task for a full redrive where the endpoint has it; `manual` never does */
  strategy?: 'auto' | 'manual' | undefined;
  /** how long to wait for a message move task to finish */
  moveTaskTimeoutMs?: number | undefined;
  now?: () => number;
}

export interface RedriveResult {
  queue: QueueName;
  strategy: 'manual' | 'move-task';
  dryRun: boolean;
  /** dead letters sent back to the queue (for a dry run: that would be) */
  moved: number;
  /** why the message move task was not used, when `auto` fell back to the manual move */
  moveTaskUnavailable?: string;
  /** the move task's handle and final (or, at the timeout, current) status */
  moveTask?: { handle: string; status: string; failureReason?: string };
  /** what went wrong; a non-empty list means the redrive is incomplete */
  errors: string[];
}

/** Error names an endpoint answers with when it has no message move tasks, or this caller may not start one. */
const MOVE_TASK_UNAVAILABLE = new Set(['InvalidAction', 'UnsupportedOperation', 'UnknownOperationException', 'AccessDenied', 'AccessDeniedException', 'NotImplemented']);

/** `redrive`: moves dead letters back to the queue they came from. */
export async function redriveDeadLetters(sqs: SQSClient, pair: DeadLetterQueuePair, options: RedriveOptions = {}): Promise<RedriveResult> {
  const now = options.now ?? Date.now;
  const startedAt = now();
  const limit = options.limit ?? Infinity;
  const base = { queue: pair.queue, dryRun: Boolean(options.dryRun), errors: [] as string[] };
  if (options.dryRun) {
    const waiting = (await peek(sqs, pair.deadLetterQueueUrl, limit)).filter((m) => sentBefore(m, startedAt));
    return { ...base, strategy: 'manual', moved: waiting.length };
  }
  let moveTaskUnavailable: string | undefined;
  if ((options.strategy ?? 'auto') === 'auto' && limit === Infinity) {
    const task = await runMoveTask(sqs, pair, options.moveTaskTimeoutMs ?? 120_000);
    if (!('unavailable' in task)) return { ...base, ...task };
    moveTaskUnavailable = task.unavailable;
  }
  const result: RedriveResult = { ...base, strategy: 'manual', moved: 0, ...(moveTaskUnavailable ? { moveTaskUnavailable } : {}) };
  try {
    while (result.moved < limit && !result.errors.length) {
      const batch = await receive(sqs, pair.deadLetterQueueUrl, limit - result.moved, 60);
      // A dead letter sent after the redrive started is one this redrive put back that failed again: leave it.
      const later = batch.filter((m) => !sentBefore(m, startedAt));
      const due = batch.filter((m) => sentBefore(m, startedAt));
      if (later.length) await release(sqs, pair.deadLetterQueueUrl, later);
      if (!due.length) break;
      await moveBack(sqs, pair, due, result);
    }
  } catch (error) {
    // what moved is reported; a message received and not yet deleted is visible in the DLQ again within 60 s
    result.errors.push(`redrive stopped: ${(error as Error).message}`);
  }
  return result;
}

/** Sends each message to the queue, then deletes from the dead-letter queue those whose send succeeded. */
async function moveBack(sqs: SQSClient, pair: DeadLetterQueuePair, messages: Message[], result: RedriveResult): Promise<void> {
  const sent = await Promise.allSettled(messages.map((m) => sqs.send(new SendMessageCommand({
    QueueUrl: pair.queueUrl,
    MessageBody: m.Body!,
    ...(m.MessageAttributes && Object.keys(m.MessageAttributes).length ? { MessageAttributes: resendable(m.MessageAttributes) } : {}),
  }))));
  const done = messages.filter((_, i) => sent[i]!.status === 'fulfilled');
  const failed = messages.filter((_, i) => sent[i]!.status === 'rejected');
  for (const outcome of sent) if (outcome.status === 'rejected') result.errors.push(`send to ${pair.queue} failed: ${(outcome.reason as Error).message}`);
  if (failed.length) await release(sqs, pair.deadLetterQueueUrl, failed).catch(() => undefined); // else visible again after 60 s
  result.moved += done.length;
  if (!done.length) return;
  const deleted = await sqs.send(new DeleteMessageBatchCommand({
    QueueUrl: pair.deadLetterQueueUrl,
    Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
  }));
  for (const f of deleted.Failed ?? []) {
    result.errors.push(`sent ${done[Number(f.Id)]?.MessageId} back but could not delete it from the dead-letter queue (${f.Message ?? f.Code}): it will be there again`);
  }
}

const sentBefore = (message: Message, time: number) => Number(message.Attributes?.SentTimestamp ?? 0) < time;

/** Only the fields SendMessage takes (a received attribute may carry empty list fields SQS reserves). */
function resendable(attributes: Record<string, MessageAttributeValue>): Record<string, MessageAttributeValue> {
  return Object.fromEntries(Object.entries(attributes).map(([name, v]) => [name, {
    DataType: v.DataType,
    ...(v.StringValue !== undefined ? { StringValue: v.StringValue } : {}),
    ...(v.BinaryValue !== undefined ? { BinaryValue: v.BinaryValue } : {}),
  }]));
}

async function queueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  return Attributes!.QueueArn!;
}

/**
 * SQS's own redrive (AWS): asynchronous, so it is followed until it ends or the timeout passes. Only a refusal to
 * start it means "unavailable"; once started, nothing falls back to a manual move that would run alongside it.
 */
async function runMoveTask(
  sqs: SQSClient,
  pair: DeadLetterQueuePair,
  timeoutMs: number,
): Promise<Pick<RedriveResult, 'strategy' | 'moved' | 'moveTask' | 'errors'> | { unavailable: string }> {
  const [sourceArn, destinationArn] = await Promise.all([queueArn(sqs, pair.deadLetterQueueUrl), queueArn(sqs, pair.queueUrl)]);
  let TaskHandle: string | undefined;
  try {
    ({ TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: sourceArn, DestinationArn: destinationArn })));
  } catch (error) {
    if (MOVE_TASK_UNAVAILABLE.has(errorName(error))) return { unavailable: `${errorName(error)}: ${(error as Error).message}` };
    throw error;
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Results = [] } = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 10 }));
    const task = Results.find((r) => r.TaskHandle === TaskHandle); // not listed yet: still starting
    const status = task?.Status ?? 'RUNNING';
    const finished = status !== 'RUNNING' && status !== 'CANCELLING';
    if (finished || Date.now() > deadline) {
      // Still running at the timeout is not a failure: SQS carries on, and `list` shows the dead letters going down.
      const failed = finished && status !== 'COMPLETED';
      return {
        strategy: 'move-task',
        moved: task?.ApproximateNumberOfMessagesMoved ?? 0,
        moveTask: { handle: TaskHandle ?? '', status, ...(task?.FailureReason ? { failureReason: task.FailureReason } : {}) },
        errors: failed ? [`message move task ${status}${task?.FailureReason ? `: ${task.FailureReason}` : ''}`] : [],
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

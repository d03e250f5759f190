/**
 * The operator's dead-letter commands on the real SQS wire protocol (fauxqs, in-process): a poison message is
 * retried into its DLQ, listed, inspected in place, counted by a dry run, moved back by a redrive and then handled
 * once by a fixed consumer; and `pnpm ops dlq` itself, run as a process.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ChangeMessageVisibilityCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@securecart/testing';
import {
  bootstrapTopology, createAwsClients, createEvent, DeadLetterQueueNotFoundError, destroyAwsClients, drainQueue, listDeadLetterQueues,
  locateDeadLetterQueue, peekDeadLetters, queueDepth, QueueConsumer, redriveDeadLetters, UnknownQueueError, type AwsClients, type CloudEvent,
  type DeadLetterQueuePair, type MessagingAddresses, type QueueName,
} from '../src/index.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PREFIX = `dl-${randomUUID().slice(0, 8)}-`;
let fauxqs: Awaited<ReturnType<typeof startFauxqs>>;
let clients: AwsClients;
let addresses: MessagingAddresses;
const consumers: QueueConsumer[] = [];

beforeAll(async () => {
  fauxqs = await startFauxqs({ port: 0, logger: false });
  clients = createAwsClients({ region: 'us-east-1', endpoint: fauxqs.address });
  addresses = await bootstrapTopology(clients, { prefix: PREFIX });
});
afterAll(async () => {
  await Promise.all(consumers.map((c) => c.stop()));
  if (clients) destroyAwsClients(clients);
  await fauxqs?.stop();
});

const pairOf = (queue: QueueName): DeadLetterQueuePair => ({
  queue, queueUrl: addresses.queueUrls[queue], deadLetterQueueUrl: addresses.deadLetterQueueUrls[queue],
});
const cancelled = () => createEvent({
  name: 'order.cancelled', source: 'orders-worker', subject: randomUUID(),
  data: { orderId: randomUUID(), customerId: 'c-1', contact: { email: 'a@example.com' }, reason: 'changed my mind' },
});
/** Sends as SNS raw delivery does: the envelope as the body, its type as a message attribute. */
const sendEvent = (queueUrl: string, event: CloudEvent) => clients.sqs.send(new SendMessageCommand({
  QueueUrl: queueUrl, MessageBody: JSON.stringify(event), MessageAttributes: { type: { DataType: 'String', StringValue: event.type } },
}));
const deadLetterCount = async (queue: QueueName) => {
  const depth = await queueDepth(clients.sqs, addresses.deadLetterQueueUrls[queue]);
  return depth.visible + depth.inFlight;
};
function consume(queue: QueueName, handle: (event: CloudEvent) => Promise<void>): QueueConsumer {
  const consumer = new QueueConsumer({ sqs: clients.sqs, queueUrl: addresses.queueUrls[queue], retryDelaySeconds: () => 0, handlers: { 'order.cancelled': handle } });
  consumers.push(consumer);
  consumer.start();
  return consumer;
}

describe('a poison message on the fulfillment queue', () => {
  const poison = cancelled();

  it('reaches the dead-letter queue after 5 failed receives', async () => {
    const failing = consume('fulfillment', async () => {
      throw new Error('the handler has a bug');
    });
    await sendEvent(addresses.queueUrls.fulfillment, poison);
    await waitFor(async () => (await deadLetterCount('fulfillment')) === 1, { timeoutMs: 20_000, what: 'the poison message in the DLQ' });
    await failing.stop();
    expect(failing.stats.failed[poison.type]).toBe(5);
  });

  it('is listed: one dead letter behind fulfillment, none behind the other queues', async () => {
    const listing = await listDeadLetterQueues(clients.sqs, { namePrefix: PREFIX });
    expect(listing.map((l) => [l.queue, l.status?.deadLetters.visible])).toEqual([
      ['orders-intake', 0], ['fulfillment', 1], ['notifications', 0], ['orders-fulfillment-updates', 0],
    ]);
    const fulfillment = listing.find((l) => l.queue === 'fulfillment')!.status!;
    expect(fulfillment).toMatchObject({ queueUrl: addresses.queueUrls.fulfillment, deadLetterQueueUrl: addresses.deadLetterQueueUrls.fulfillment });
    expect(fulfillment.source).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(fulfillment.oldestDeadLetterAgeSeconds).toBeGreaterThanOrEqual(0);
    expect(listing.find((l) => l.queue === 'notifications')!.status!.oldestDeadLetterAgeSeconds).toBeNull();
  });

  it('is shown with its CloudEvent type and id, and stays in the dead-letter queue', async () => {
    const pair = await locateDeadLetterQueue(clients.sqs, 'fulfillment', { namePrefix: PREFIX });
    expect(pair).toEqual(pairOf('fulfillment')); // the DLQ found through the queue's redrive policy
    const [letter, ...others] = await peekDeadLetters(clients.sqs, pair);
    expect(others).toEqual([]);
    expect(letter!.event).toEqual({ type: 'com.securecart.order.cancelled', id: poison.id, subject: poison.subject, time: poison.time, source: poison.source });
    expect(letter!.raw).toBeNull();
    expect(letter!.attributes).toEqual({ type: 'com.securecart.order.cancelled' });
    expect(letter!.receiveCount).toBeGreaterThan(5);
    expect(Date.parse(letter!.sentAt!)).toBeLessThanOrEqual(Date.parse(letter!.firstReceivedAt!));
    expect(await queueDepth(clients.sqs, pair.deadLetterQueueUrl)).toEqual({ visible: 1, inFlight: 0, delayed: 0 }); // visible again at once
  });

  it('is counted, not moved, by a dry-run redrive', async () => {
    const result = await redriveDeadLetters(clients.sqs, pairOf('fulfillment'), { dryRun: true });
    expect(result).toMatchObject({ dryRun: true, moved: 1, errors: [] });
    expect(await queueDepth(clients.sqs, addresses.deadLetterQueueUrls.fulfillment)).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
    expect(await queueDepth(clients.sqs, addresses.queueUrls.fulfillment)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('is moved back by a redrive, with its attributes, and then handled exactly once by a fixed consumer', async () => {
    const result = await redriveDeadLetters(clients.sqs, pairOf('fulfillment'));
    // fauxqs has no StartMessageMoveTask: the redrive falls back to receive, send, delete
    expect(result).toMatchObject({ strategy: 'manual', dryRun: false, moved: 1, errors: [], moveTaskUnavailable: expect.stringMatching(/InvalidAction/) });
    expect(await deadLetterCount('fulfillment')).toBe(0);

    const back = (await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: addresses.queueUrls.fulfillment, MessageAttributeNames: ['All'], WaitTimeSeconds: 1 }))).Messages!;
    expect(back.map((m) => JSON.parse(m.Body!))).toEqual([poison]);
    expect(back[0]!.MessageAttributes?.type?.StringValue).toBe(poison.type);
    await clients.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: addresses.queueUrls.fulfillment, ReceiptHandle: back[0]!.ReceiptHandle!, VisibilityTimeout: 0 }));

    const handled: string[] = [];
    const fixed = consume('fulfillment', async (event) => void handled.push(event.id));
    await waitFor(() => handled.length > 0, { timeoutMs: 10_000, what: 'the fixed consumer to handle the redriven message' });
    await fixed.stop(); // acknowledged: nothing left on the queue that could be delivered again
    expect(handled).toEqual([poison.id]);
    expect(await queueDepth(clients.sqs, addresses.queueUrls.fulfillment)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(await deadLetterCount('fulfillment')).toBe(0);
  });
});

describe('dead-letter commands', () => {
  it('show a body that is not a CloudEvents envelope raw, truncated, without removing it', async () => {
    const pair = pairOf('orders-fulfillment-updates');
    await clients.sqs.send(new SendMessageCommand({ QueueUrl: pair.deadLetterQueueUrl, MessageBody: `not json ${'x'.repeat(1000)}` }));
    const [letter] = await peekDeadLetters(clients.sqs, pair);
    expect(letter!.event).toBeNull();
    expect(letter!.raw).toMatch(/^not json x+… \(1009 characters\)$/);
    expect(letter!.raw!.length).toBeLessThan(400);
    expect(await deadLetterCount('orders-fulfillment-updates')).toBe(1);
    await drainQueue(clients, pair.deadLetterQueueUrl, 200);
  });

  it('redrive moves at most --limit dead letters', async () => {
    const pair = pairOf('notifications');
    for (let i = 0; i < 3; i++) await sendEvent(pair.deadLetterQueueUrl, cancelled());
    expect(await redriveDeadLetters(clients.sqs, pair, { limit: 2 })).toMatchObject({ strategy: 'manual', moved: 2, errors: [] });
    expect(await deadLetterCount('notifications')).toBe(1);
    expect((await drainQueue(clients, pair.queueUrl, 200)).length).toBe(2);
    await drainQueue(clients, pair.deadLetterQueueUrl, 200);
  });

  it('redrive leaves the dead letters that arrived after it began (a redriven message that failed again)', async () => {
    const pair = pairOf('notifications');
    await sendEvent(pair.deadLetterQueueUrl, cancelled());
    const result = await redriveDeadLetters(clients.sqs, pair, { now: () => Date.now() - 60_000 }); // it "began" a minute ago
    expect(result).toMatchObject({ moved: 0, errors: [] });
    expect(await queueDepth(clients.sqs, pair.deadLetterQueueUrl)).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
    await drainQueue(clients, pair.deadLetterQueueUrl, 200);
  });

  it('refuse an unknown queue name, listing the valid ones, and say when a queue does not exist', async () => {
    await expect(locateDeadLetterQueue(clients.sqs, 'payments')).rejects.toThrow(UnknownQueueError);
    await expect(locateDeadLetterQueue(clients.sqs, 'payments')).rejects.toThrow(/orders-intake, fulfillment, notifications, orders-fulfillment-updates/);
    await expect(locateDeadLetterQueue(clients.sqs, 'fulfillment', { namePrefix: 'no-such-' })).rejects.toThrow(DeadLetterQueueNotFoundError);
  });
});

describe('pnpm ops dlq, as a process', () => {
  function ops(args: string[], env: Record<string, string> = { AWS_ENDPOINT_URL: fauxqs.address, MESSAGING_PREFIX: PREFIX }) {
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, ['scripts/ops.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: 30_000 },
        (_error, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }));
    });
  }

  it('lists every queue in a table, or as JSON, and exits 0', async () => {
    const pair = pairOf('orders-intake');
    await sendEvent(pair.deadLetterQueueUrl, cancelled());
    const text = await ops(['dlq', 'list']);
    expect(text).toMatchObject({ code: 0, stderr: '' });
    expect(text.stdout).toMatch(/^queue\s+dead letters\s+dlq in flight\s+oldest dead letter/);
    expect(text.stdout).toMatch(/^orders-intake\s+1\s+0\s+\d+s\s+0\s+0\s+0$/m);
    expect(text.stdout).toMatch(/^fulfillment\s+0\s+0\s+-\s+0\s+0\s+0$/m);
    expect(text.stdout).toContain('pnpm ops dlq show <queue>');
    const json = await ops(['dlq', 'list', '--json']);
    expect(json.code).toBe(0);
    const { queues } = JSON.parse(json.stdout) as { queues: { queue: string; status: { deadLetters: { visible: number } } }[] };
    expect(queues.map((q) => [q.queue, q.status.deadLetters.visible])).toEqual([
      ['orders-intake', 1], ['fulfillment', 0], ['notifications', 0], ['orders-fulfillment-updates', 0],
    ]);
    await drainQueue(clients, pair.deadLetterQueueUrl, 200);
  });

  it('shows and redrives a queue\'s dead letters', async () => {
    const pair = pairOf('orders-intake');
    const event = cancelled();
    await sendEvent(pair.deadLetterQueueUrl, event);
    const shown = await ops(['dlq', 'show', 'orders-intake']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`com.securecart.order.cancelled  id ${event.id}  subject ${event.subject}`);
    const dry = await ops(['dlq', 'redrive', 'orders-intake', '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ queue: 'orders-intake', dryRun: true, moved: 1 });
    const moved = await ops(['dlq', 'redrive', 'orders-intake']);
    expect(moved.code).toBe(0);
    expect(moved.stdout).toContain('Moved 1 dead letter back to orders-intake (receive, send, delete)');
    expect((await drainQueue(clients, pair.queueUrl, 200)).map((m) => JSON.parse(m.Body!).id)).toEqual([event.id]);
    expect(await deadLetterCount('orders-intake')).toBe(0);
  });

  it('exits 2 on bad usage, naming the problem', async () => {
    const cases: [string[], RegExp][] = [
      [[], /no command given/],
      [['dlq', 'purge'], /unknown dlq command "purge"/],
      [['dlq', 'show'], /dlq show needs a queue: orders-intake, fulfillment/],
      [['dlq', 'redrive', 'payments'], /unknown queue "payments"; the queues are: orders-intake, fulfillment, notifications, orders-fulfillment-updates/],
      [['dlq', 'show', 'fulfillment', '--limit', 'many'], /--limit must be a positive integer/],
      [['dlq', 'list', '--frobnicate'], /Unknown option '--frobnicate'/],
    ];
    for (const [args, message] of cases) {
      const result = await ops(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stderr).toContain('Usage: pnpm ops dlq');
    }
  });

  it('exits 1 when SQS cannot be reached', async () => {
    const result = await ops(['dlq', 'show', 'fulfillment'], { AWS_ENDPOINT_URL: 'http://127.0.0.1:9' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ops: .*127\.0\.0\.1:9/m);
  });
});

/** Small queue utilities for tests and operators. */
import { SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { eventType, type EventName } from '@securecart/contracts';
import type { AwsClients } from './clients.ts';
import type { CloudEvent } from './envelope.ts';

/** Receives (and deletes) whatever is on a queue until it has been quiet for `quietMs`. */
export async function drainQueue(clients: AwsClients, queueUrl: string, quietMs = 400): Promise<Message[]> {
  const messages: Message[] = [];
  let quietSince = Date.now();
  while (Date.now() - quietSince < quietMs) {
    const r = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageAttributeNames: ['All'] }),
    );
    if (r.Messages?.length) {
      messages.push(...r.Messages);
      quietSince = Date.now();
      await clients.sqs.send(
        new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: r.Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }),
      );
    } else {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return messages;
}

/**
 * Collects every event that lands on a queue (receiving and deleting as it goes), so a test or an operator's
 * script can wait for what it expects.
 */
export class QueueTap {
  readonly events: CloudEvent[] = [];
  private running = true;
  private readonly loop: Promise<void>;
  private readonly clients: AwsClients;
  private readonly queueUrl: string;

  constructor(clients: AwsClients, queueUrl: string) {
    this.clients = clients;
    this.queueUrl = queueUrl;
    this.loop = this.run();
  }

  /** A tap on everything published to a topic: a queue of its own (`queueName`), subscribed with raw delivery and no
   * filter, as an observer would subscribe. */
  static async onTopic(clients: AwsClients, topicArn: string, queueName: string): Promise<QueueTap> {
    const created = await clients.sqs.send(new CreateQueueCommand({ QueueName: queueName }));
    const attributes = await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: created.QueueUrl!, AttributeNames: ['QueueArn'] }));
    await clients.sns.send(
      new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: attributes.Attributes!.QueueArn!, Attributes: { RawMessageDelivery: 'true' } }),
    );
    return new QueueTap(clients, created.QueueUrl!);
  }

  /** Events about one subject (an order id), optionally of one type (`payment.captured`). */
  about(subject: string, name?: EventName): CloudEvent[] {
    return this.events.filter((e) => e.subject === subject && (!name || e.type === eventType(name)));
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const received = await this.clients.sqs
        .send(new ReceiveMessageCommand({ QueueUrl: this.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }))
        .catch(() => ({ Messages: undefined }));
      const messages = received.Messages ?? [];
      if (messages.length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      this.events.push(...messages.map((m) => JSON.parse(m.Body!) as CloudEvent));
      await this.clients.sqs
        .send(new DeleteMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }))
        .catch(() => undefined);
    }
  }
}

/** Small queue utilities for tests and operators. */
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import type { AwsClients } from './clients.ts';

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

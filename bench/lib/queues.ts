/**
 * How many messages the topology's queues and their dead-letter queues hold, for a benchmark's drain and its
 * "no dead letters" check. Each figure is a queue's messages waiting plus those in flight (received, not yet deleted
 * or visible again); nothing here is sent with a delay. The arrays follow QUEUE_NAMES.
 */
import { GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { deadLetterQueueName, QUEUE_NAMES, queueDepth } from '@securecart/messaging';

export interface QueueWatch {
  /** each topology queue */
  queues(): Promise<number[]>;
  /** each topology queue's dead-letter queue */
  deadLetters(): Promise<number[]>;
}

export function watchQueues(sqs: SQSClient): QueueWatch {
  const held = async (name: string) => {
    const url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
    const depth = await queueDepth(sqs, url);
    return depth.visible + depth.inFlight;
  };
  return {
    queues: () => Promise.all(QUEUE_NAMES.map(held)),
    deadLetters: () => Promise.all(QUEUE_NAMES.map((queue) => held(deadLetterQueueName(queue)))),
  };
}

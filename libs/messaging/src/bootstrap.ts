/**
 * Creates the topology on an SNS/SQS endpoint, idempotently: every dead-letter queue, every queue with its
 * redrive policy, every topic, and every subscription with its filter policy (raw delivery, so a queue receives
 * the CloudEvents envelope itself). Used by embedded mode, tests and the compose stack; in AWS, Copilot creates
 * the same resources from the manifests, which a test holds equal to this topology.
 */
import { CreateTopicCommand, ListSubscriptionsByTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { MessagingConfigError } from './addresses.ts';
import type { AwsClients } from './clients.ts';
import { deadLetterQueueName, filterPolicy, TOPOLOGY, type QueueName, type TopicName, type Topology } from './topology.ts';

export interface MessagingAddresses {
  topicArns: Record<TopicName, string>;
  queueUrls: Record<QueueName, string>;
  deadLetterQueueUrls: Record<QueueName, string>;
}

/** `prefix` keeps test runs apart on a shared endpoint: resources are named `<prefix><name>`. */
export async function bootstrapTopology(
  clients: AwsClients,
  options: { prefix?: string; topology?: Topology } = {},
): Promise<MessagingAddresses> {
  const prefix = options.prefix ?? '';
  const topology = options.topology ?? TOPOLOGY;
  const topics = Object.keys(topology.topics) as TopicName[];
  const queues = Object.keys(topology.queues) as QueueName[];
  const topicArns = new Map<TopicName, string>();
  const queueUrls = new Map<QueueName, string>();
  const deadLetterQueueUrls = new Map<QueueName, string>();

  for (const topic of topics) {
    const created = await clients.sns.send(new CreateTopicCommand({ Name: `${prefix}${topic}` }));
    topicArns.set(topic, answered(created.TopicArn, `CreateTopic ${prefix}${topic}`));
  }

  for (const queue of queues) {
    const definition = topology.queues[queue];
    const dlq = await clients.sqs.send(
      new CreateQueueCommand({ QueueName: `${prefix}${deadLetterQueueName(queue)}`, Attributes: { MessageRetentionPeriod: '1209600' } }),
    );
    const dlqUrl = answered(dlq.QueueUrl, `CreateQueue ${prefix}${deadLetterQueueName(queue)}`);
    deadLetterQueueUrls.set(queue, dlqUrl);
    const dlqArn = await queueArn(clients, dlqUrl);
    const created = await clients.sqs.send(
      new CreateQueueCommand({
        QueueName: `${prefix}${queue}`,
        Attributes: {
          VisibilityTimeout: String(definition.visibilityTimeoutSeconds),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: definition.maxReceiveCount }),
        },
      }),
    );
    const queueUrl = answered(created.QueueUrl, `CreateQueue ${prefix}${queue}`);
    queueUrls.set(queue, queueUrl);
    const arn = await queueArn(clients, queueUrl);
    for (const subscription of definition.subscriptions) {
      const topicArn = topicArns.get(subscription.topic);
      if (!topicArn) throw new MessagingConfigError(`topology: queue ${queue} subscribes to ${subscription.topic}, which is not one of its topics`);
      const existing = await clients.sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn }));
      if (existing.Subscriptions?.some((s) => s.Endpoint === arn)) continue;
      await clients.sns.send(
        new SubscribeCommand({
          TopicArn: topicArn,
          Protocol: 'sqs',
          Endpoint: arn,
          Attributes: { RawMessageDelivery: 'true', FilterPolicy: JSON.stringify(filterPolicy(subscription.events)) },
        }),
      );
    }
  }
  return {
    topicArns: complete(topics, topicArns, 'topic ARN'),
    queueUrls: complete(queues, queueUrls, 'queue URL'),
    deadLetterQueueUrls: complete(queues, deadLetterQueueUrls, 'dead-letter queue URL'),
  };
}

/** What an endpoint's answer must hold; an empty answer is an error naming the call, not an undefined address. */
function answered(value: string | undefined, call: string): string {
  if (!value) throw new MessagingConfigError(`bootstrap: ${call} answered without an address`);
  return value;
}

/** A map with an entry for every key, checked: no cast stands in for a missing topic or queue. */
function complete<K extends string>(keys: readonly K[], values: Map<K, string>, what: string): Record<K, string> {
  const missing = keys.filter((key) => !values.has(key));
  if (missing.length > 0) throw new MessagingConfigError(`bootstrap: no ${what} for ${missing.join(', ')}`);
  return Object.fromEntries(keys.map((key) => [key, values.get(key)])) as Record<K, string>;
}

async function queueArn(clients: AwsClients, queueUrl: string): Promise<string> {
  const attributes = await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  return answered(attributes.Attributes?.QueueArn, `GetQueueAttributes QueueArn of ${queueUrl}`);
}

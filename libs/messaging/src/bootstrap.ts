/**
 * Creates the topology on an SNS/SQS endpoint, idempotently: every dead-letter queue, every queue with its
 * redrive policy, every topic, and every subscription with its filter policy (raw delivery, so a queue receives
 * the CloudEvents envelope itself). Used by embedded mode, tests and the compose stack; in AWS, Copilot creates
 * the same resources from the manifests, which a test holds equal to this topology.
 */
import { CreateTopicCommand, ListSubscriptionsByTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
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
  const topicArns = {} as Record<TopicName, string>;
  const queueUrls = {} as Record<QueueName, string>;
  const deadLetterQueueUrls = {} as Record<QueueName, string>;

  for (const [topic] of Object.entries(topology.topics) as [TopicName, unknown][]) {
    const created = await clients.sns.send(new CreateTopicCommand({ Name: `${prefix}${topic}` }));
    topicArns[topic] = created.TopicArn!;
  }

  for (const [queue, definition] of Object.entries(topology.queues) as [QueueName, Topology['queues'][QueueName]][]) {
    const dlq = await clients.sqs.send(
      new CreateQueueCommand({ QueueName: `${prefix}${deadLetterQueueName(queue)}`, Attributes: { MessageRetentionPeriod: '1209600' } }),
    );
    deadLetterQueueUrls[queue] = dlq.QueueUrl!;
    const dlqArn = await queueArn(clients, dlq.QueueUrl!);
    const created = await clients.sqs.send(
      new CreateQueueCommand({
        QueueName: `${prefix}${queue}`,
        Attributes: {
          VisibilityTimeout: String(definition.visibilityTimeoutSeconds),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: definition.maxReceiveCount }),
        },
      }),
    );
    queueUrls[queue] = created.QueueUrl!;
    const arn = await queueArn(clients, created.QueueUrl!);
    for (const subscription of definition.subscriptions) {
      const topicArn = topicArns[subscription.topic];
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
  return { topicArns, queueUrls, deadLetterQueueUrls };
}

async function queueArn(clients: AwsClients, queueUrl: string): Promise<string> {
  const attributes = await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  return attributes.Attributes!.QueueArn!;
}

/**
 * Publishes CloudEvents to SNS, ten to a PublishBatch call, with the `type` message attribute that subscriptions
 * filter on, and `traceparent` / `correlationid` carried as attributes too. Throws when any entry fails, naming
 * the failed event ids, so the caller (checkout, the outbox relay) knows nothing was acknowledged for them.
 */
import { PublishBatchCommand, type MessageAttributeValue } from '@aws-sdk/client-sns';
import type { AwsClients } from './clients.ts';
import type { CloudEvent } from './envelope.ts';

export class PublishError extends Error {
  readonly failedIds: string[];
  constructor(message: string, failedIds: string[], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PublishError';
    this.failedIds = failedIds;
  }
}

function attributes(event: CloudEvent): Record<string, MessageAttributeValue> {
  const result: Record<string, MessageAttributeValue> = { type: { DataType: 'String', StringValue: event.type } };
  if (event.traceparent) result.traceparent = { DataType: 'String', StringValue: event.traceparent };
  if (event.correlationid) result.correlationid = { DataType: 'String', StringValue: event.correlationid };
  return result;
}

export class SnsPublisher {
  private readonly clients: AwsClients;

  constructor(clients: AwsClients) {
    this.clients = clients;
  }

  async publish(topicArn: string, events: CloudEvent[]): Promise<void> {
    for (let i = 0; i < events.length; i += 10) {
      const chunk = events.slice(i, i + 10);
      let failed: string[];
      try {
        const result = await this.clients.sns.send(
          new PublishBatchCommand({
            TopicArn: topicArn,
            PublishBatchRequestEntries: chunk.map((event) => ({
              // SNS batch entry ids allow [A-Za-z0-9_-]: a UUID fits.
              Id: event.id,
              Message: JSON.stringify(event),
              MessageAttributes: attributes(event),
            })),
          }),
        );
        failed = (result.Failed ?? []).map((f) => f.Id ?? '?');
      } catch (error) {
        throw new PublishError(`publishing to ${topicArn} failed: ${(error as Error).message}`, chunk.map((e) => e.id), { cause: error });
      }
      if (failed.length > 0) throw new PublishError(`SNS refused ${failed.length} of ${chunk.length} events`, failed);
    }
  }
}

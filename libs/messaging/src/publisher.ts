/**
 * Publishes CloudEvents to SNS, ten to a PublishBatch call, with the `type` message attribute that subscriptions
 * filter on, and `traceparent` / `correlationid` carried as attributes too. Throws when any entry fails, naming
 * the failed event ids, so the caller (checkout, the outbox relay) knows nothing was acknowledged for them.
 *
 * With tracing on, each event gets a PRODUCER span under its own traceparent, and what is published (the envelope
 * and the attribute) carries the producer span's traceparent instead, so the consumer's span hangs under it.
 */
import { PublishBatchCommand, type MessageAttributeValue } from '@aws-sdk/client-sns';
import { startSpan, tracingEnabled, type SpanHandle } from '@securecart/telemetry';
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
      if (tracingEnabled()) await this.publishTraced(topicArn, events.slice(i, i + 10));
      else await this.publishChunk(topicArn, events.slice(i, i + 10));
    }
  }

  private async publishTraced(topicArn: string, events: CloudEvent[]): Promise<void> {
    const topic = topicArn.slice(topicArn.lastIndexOf(':') + 1);
    const spans = new Map<string, SpanHandle>();
    const traced = events.map((event) => {
      const span = startSpan(`publish ${topic}`, {
        kind: 'producer',
        parent: event.traceparent,
        attributes: {
          'messaging.system': 'aws_sns',
          'messaging.operation.type': 'send',
          'messaging.destination.name': topic,
          'messaging.message.id': event.id,
          'cloudevents.event_id': event.id,
          'cloudevents.event_type': event.type,
        },
      });
      spans.set(event.id, span);
      return { ...event, traceparent: span.traceparent };
    });
    try {
      await this.publishChunk(topicArn, traced);
    } catch (error) {
      const failed = new Set(error instanceof PublishError ? error.failedIds : events.map((e) => e.id));
      for (const [id, span] of spans) if (failed.has(id)) span.fail(error);
      throw error;
    } finally {
      for (const span of spans.values()) span.end();
    }
  }

  private async publishChunk(topicArn: string, chunk: CloudEvent[]): Promise<void> {
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

/**
 * Publishes CloudEvents to SNS in PublishBatch calls (at most ten entries and 256 KiB each), with the `type` message
 * attribute that subscriptions filter on, and `traceparent` / `correlationid` carried as attributes too. Every call
 * is tried even when an earlier one failed; then it throws a PublishError naming each event that was not published
 * and why (transient, rejected, too large), so the caller (checkout, the outbox relay) knows nothing was acknowledged
 * for them, and the relay can tell a poison event from an outage.
 *
 * With tracing on, each event gets a PRODUCER span under its own traceparent, and what is published (the envelope
 * and the attribute) carries the producer span's traceparent instead, so the consumer's span hangs under it.
 */
import { PublishBatchCommand, type MessageAttributeValue } from '@aws-sdk/client-sns';
import { startSpan, tracingEnabled, type SpanHandle } from '@securecart/telemetry';
import type { AwsClients } from './clients.ts';
import type { CloudEvent } from './envelope.ts';

/**
 * Why an event was not published:
 * - `transient`: SNS could not be reached, timed out, throttled or failed on its side; the same call may work later;
 * - `rejected`: SNS refused this event or its topic (no such topic, an invalid parameter, an entry it failed as the
 *   sender's fault); it will keep failing until someone changes something;
 * - `too-large`: over SNS's 256 KiB message limit; it can never be published.
 */
export type PublishFailureKind = 'transient' | 'rejected' | 'too-large';

export interface PublishFailure {
  id: string;
  kind: PublishFailureKind;
  reason: string;
}

export class PublishError extends Error {
  readonly failures: PublishFailure[];
  constructor(message: string, failures: PublishFailure[], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PublishError';
    this.failures = failures;
  }

  get failedIds(): string[] {
    return this.failures.map((f) => f.id);
  }
}

/** SNS's limit for one message, and for all the messages of one PublishBatch call: body plus attributes. */
export const SNS_MAX_MESSAGE_BYTES = 262_144;

/** Errors SNS answers for a call that will fail again the same way; everything else is worth retrying. */
const REJECTED_CALL = new Set([
  'NotFoundException', 'NotFound', 'InvalidParameterException', 'InvalidParameter', 'InvalidParameterValueException',
  'InvalidParameterValue', 'ParameterValueInvalid', 'BatchEntryIdsNotDistinctException', 'BatchRequestTooLongException',
]);
const isRejectedCall = (error: unknown) => error instanceof Error && REJECTED_CALL.has(error.name);
/** a topic that does not exist fails every event alike: no point trying them one by one */
const isMissingTopic = (error: unknown) => error instanceof Error && (error.name === 'NotFoundException' || error.name === 'NotFound');

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

  /**
   * Publishes every event it can: in PublishBatch calls of at most ten entries and 256 KiB, each tried even when an
   * earlier one failed. Throws a PublishError naming every event that was not published, and why.
   */
  async publish(topicArn: string, events: CloudEvent[]): Promise<void> {
    const failures: PublishFailure[] = [];
    for (const chunk of chunksOf(events, failures)) {
      failures.push(...(tracingEnabled() ? await this.publishTraced(topicArn, chunk) : await this.publishChunk(topicArn, chunk)));
    }
    if (failures.length > 0) {
      const first = failures[0]!;
      throw new PublishError(`${failures.length} of ${events.length} events were not published to ${topicArn}: ${first.reason}`, failures);
    }
  }

  private async publishTraced(topicArn: string, events: CloudEvent[]): Promise<PublishFailure[]> {
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
    const failures = await this.publishChunk(topicArn, traced);
    const failed = new Map(failures.map((f) => [f.id, f]));
    for (const [id, span] of spans) {
      const failure = failed.get(id);
      if (failure) span.fail(new PublishError(failure.reason, [failure]));
      span.end();
    }
    return failures;
  }

  /** One PublishBatch call; what it did not publish. A refused call of several events is tried one by one, so that
   * one bad event does not fail the others. */
  private async publishChunk(topicArn: string, chunk: CloudEvent[]): Promise<PublishFailure[]> {
    try {
      const result = await this.clients.sns.send(
        new PublishBatchCommand({ TopicArn: topicArn, PublishBatchRequestEntries: chunk.map(entryOf) }),
      );
      return (result.Failed ?? []).map((f) => ({
        id: f.Id ?? '?',
        kind: f.SenderFault ? 'rejected' : 'transient',
        reason: `SNS failed it: ${f.Code ?? 'unknown'} ${f.Message ?? ''}`.trim(),
      }));
    } catch (error) {
      const reason = `${(error as Error).name}: ${(error as Error).message}`;
      if (!isRejectedCall(error)) return chunk.map((e) => ({ id: e.id, kind: 'transient', reason }));
      if (chunk.length === 1 || isMissingTopic(error)) return chunk.map((e) => ({ id: e.id, kind: 'rejected', reason }));
      const alone: PublishFailure[] = [];
      for (const event of chunk) alone.push(...(await this.publishChunk(topicArn, [event])));
      return alone;
    }
  }
}

function entryOf(event: CloudEvent) {
  return {
    // SNS batch entry ids allow [A-Za-z0-9_-]: a UUID fits.
    Id: event.id,
    Message: JSON.stringify(event),
    MessageAttributes: attributes(event),
  };
}

/** What SNS counts of an entry against its limits: the message, and each attribute's name, type and value. */
function sizeOf(event: CloudEvent): number {
  let bytes = Buffer.byteLength(JSON.stringify(event));
  for (const [name, value] of Object.entries(attributes(event))) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value.DataType ?? '') + Buffer.byteLength(value.StringValue ?? '');
  }
  return bytes;
}

/** Groups events into calls of at most ten entries and 256 KiB; an event over the limit alone is a failure. */
function chunksOf(events: CloudEvent[], failures: PublishFailure[]): CloudEvent[][] {
  const chunks: CloudEvent[][] = [];
  let current: CloudEvent[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = sizeOf(event);
    if (size > SNS_MAX_MESSAGE_BYTES) {
      failures.push({ id: event.id, kind: 'too-large', reason: `${size} bytes, over SNS's limit of ${SNS_MAX_MESSAGE_BYTES}` });
      continue;
    }
    if (current.length === 10 || bytes + size > SNS_MAX_MESSAGE_BYTES) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(event);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

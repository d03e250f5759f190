/**
 * Writes docs/events/ from the TypeBox event schemas (libs/contracts) and the messaging topology
 * (libs/messaging): asyncapi.json (AsyncAPI 3.0.0: a channel per SNS topic and per SQS queue), one JSON Schema
 * per event (schemas/<event>.v<version>.json: the whole CloudEvents envelope) and README.md (who publishes
 * what, who receives it through which filter). Everything there is generated: never edit it by hand, run
 * `pnpm docs:generate`; a test fails when the committed files are stale.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dataSchemaUri, EVENT_NAMES, EVENT_VERSION, EventData, eventType, type EventName } from '../libs/contracts/src/events.ts';
import { deadLetterQueueName, filterPolicy, TOPOLOGY, type QueueName, type TopicName } from '../libs/messaging/src/topology.ts';

type Json = Record<string, unknown>;

export const serialize = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
export const schemaFileName = (name: EventName) => `${name}.v${EVENT_VERSION}.json`;

/** JSON round trip: plain objects only (TypeBox keeps non-enumerable markers such as `~kind`). */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const entries = <K extends string, V>(record: Record<K, V>) => Object.entries(record) as [K, V][];
const camel = (...words: string[]) =>
  words.flatMap((w) => w.split(/[^a-zA-Z0-9]+/)).map((w, i) => (i === 0 ? w : w.charAt(0).toUpperCase() + w.slice(1))).join('');
const topicsOf = (queue: QueueName) => TOPOLOGY.queues[queue].subscriptions.map((s) => s.topic);
/** The events a queue receives, in subscription order, once each. */
const eventsOf = (queue: QueueName) => [...new Set(TOPOLOGY.queues[queue].subscriptions.flatMap((s) => s.events))];

/** The CloudEvents 1.0 envelope (JSON structured mode) of one event, with `data` as given. */
function envelope(name: EventName, data: object): Json {
  return {
    type: 'object',
    required: ['specversion', 'id', 'type', 'source', 'subject', 'time', 'datacontenttype', 'dataschema', 'data'],
    properties: {
      specversion: { type: 'string', const: '1.0' },
      id: { type: 'string', format: 'uuid' },
      type: { type: 'string', const: eventType(name) },
      source: { type: 'string', pattern: '^/securecart/[a-z0-9-]+$', description: 'the publishing service' },
      subject: { type: 'string', minLength: 1, description: 'the order or product id' },
      time: { type: 'string', format: 'date-time' },
      datacontenttype: { type: 'string', const: 'application/json' },
      dataschema: { type: 'string', format: 'uri', const: dataSchemaUri(name) },
      traceparent: { type: 'string', pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$', description: 'W3C Trace Context' },
      correlationid: { type: 'string', minLength: 1 },
      data,
    },
  };
}

/**
 * The standalone JSON Schema of an event: the envelope, with the schema of `data` inline as a resource of its own
 * whose `$id` is the envelope's `dataschema` (in CloudEvents, `dataschema` names the schema of `data`).
 */
function envelopeSchema(name: EventName): Json {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: dataSchemaUri(name).replace(/\.json$/, '.envelope.json'),
    title: `${eventType(name)} v${EVENT_VERSION}`,
    description: `CloudEvents 1.0 envelope of ${name}; \`data\` is the event's payload, described by the schema \`dataschema\` names.`,
    ...envelope(name, { $id: dataSchemaUri(name), ...plain(EventData[name]) }),
  };
}

/** The SNS message attributes a subscription can filter on; raw delivery keeps them on the SQS message. */
const headers = (name: EventName): Json => ({
  type: 'object',
  required: ['type'],
  properties: {
    type: { type: 'string', const: eventType(name), description: 'SNS message attribute (String): the CloudEvents type; filter policies match it' },
    traceparent: { type: 'string', description: 'SNS message attribute (String), copied from the envelope' },
    correlationid: { type: 'string', description: 'SNS message attribute (String), copied from the envelope' },
  },
});

function message(name: EventName): Json {
  return {
    name,
    title: eventType(name),
    contentType: 'application/json',
    headers: headers(name),
    payload: envelope(name, { $ref: `#/components/schemas/${name}` }),
    correlationId: { description: 'ties the events of one order together', location: '$message.payload#/correlationid' },
  };
}

const messageRefs = (events: EventName[]) => Object.fromEntries(events.map((e) => [e, { $ref: `#/components/messages/${e}` }]));
const channelMessageRefs = (channel: string, events: EventName[]) => events.map((e) => ({ $ref: `#/channels/${channel}/messages/${e}` }));
const typeList = (events: EventName[]) => filterPolicy(events).type.join(', ');

function topicChannel(topic: TopicName): Json {
  const { publisher, events } = TOPOLOGY.topics[topic];
  const queues = entries(TOPOLOGY.queues).filter(([q]) => topicsOf(q).includes(topic)).map(([q]) => q);
  return {
    address: topic,
    title: `SNS topic ${topic}`,
    description: `Published by ${publisher}. Subscribed queues: ${queues.join(', ') || 'none'}.`,
    messages: messageRefs(events),
  };
}

function queueChannel(queue: QueueName): Json {
  const { consumer, subscriptions, maxReceiveCount, visibilityTimeoutSeconds } = TOPOLOGY.queues[queue];
  const dlq = deadLetterQueueName(queue);
  const subscribed = subscriptions.map((s) => `${s.topic} (filter: type in ${typeList(s.events)})`).join('; ');
  return {
    address: queue,
    title: `SQS queue ${queue}`,
    description:
      `Consumed by ${consumer}. Subscribed to ${subscribed}, raw message delivery. ` +
      `After ${maxReceiveCount} receives a message moves to the dead-letter queue ${dlq}.`,
    messages: messageRefs(eventsOf(queue)),
    bindings: {
      sqs: {
        queue: {
          name: queue,
          fifoQueue: false,
          visibilityTimeout: visibilityTimeoutSeconds,
          redrivePolicy: { deadLetterQueue: { name: dlq }, maxReceiveCount },
        },
        deadLetterQueue: { name: dlq, fifoQueue: false },
        bindingVersion: '0.2.0',
      },
    },
  };
}

export function buildEventDocs(): { asyncapi: object; schemas: Record<string, object> } {
  const topics = entries(TOPOLOGY.topics);
  const queues = entries(TOPOLOGY.queues);
  const clash = queues.find(([q]) => q in TOPOLOGY.topics);
  if (clash) throw new Error(`queue ${clash[0]} has the name of a topic: channel ids would collide`);

  const operations: Json = {};
  for (const [topic, { publisher, events }] of topics) {
    operations[camel('publish', topic)] = {
      action: 'send',
      channel: { $ref: `#/channels/${topic}` },
      summary: `${publisher} publishes to ${topic}`,
      messages: channelMessageRefs(topic, events),
      'x-publisher': publisher,
    };
  }
  for (const [queue, { consumer }] of queues) {
    operations[camel('receive', queue)] = {
      action: 'receive',
      channel: { $ref: `#/channels/${queue}` },
      summary: `${consumer} receives from ${queue}`,
      messages: channelMessageRefs(queue, eventsOf(queue)),
      'x-consumer': consumer,
    };
  }

  const asyncapi = {
    asyncapi: '3.0.0',
    info: {
      title: 'SecureCart events',
      version: '1.0.0',
      description:
        'Integration events of SecureCart on Amazon SNS and SQS. Every message body is a CloudEvents 1.0 JSON envelope ' +
        '(structured mode) whose `data` follows the event schema. Publishers set the SNS message attribute `type` to the ' +
        'CloudEvents type, and each queue subscription carries a filter policy on that `type` attribute. ' +
        'Generated by scripts/generate-event-docs.ts: do not edit.',
    },
    defaultContentType: 'application/json',
    channels: Object.fromEntries([
      ...topics.map(([topic]) => [topic, topicChannel(topic)]),
      ...queues.map(([queue]) => [queue, queueChannel(queue)]),
    ]),
    operations,
    components: {
      messages: Object.fromEntries(EVENT_NAMES.map((name) => [name, message(name)])),
      schemas: Object.fromEntries(EVENT_NAMES.map((name) => [name, plain(EventData[name])])),
    },
  };
  const schemas = Object.fromEntries(EVENT_NAMES.map((name) => [name, envelopeSchema(name)]));
  return plain({ asyncapi, schemas });
}

export function renderEventReadme(): string {
  const code = (s: string) => `\`${s}\``;
  const lines = [
    '# Events',
    '',
    '<!-- Generated by scripts/generate-event-docs.ts from libs/contracts and libs/messaging: do not edit, run `pnpm docs:generate`. -->',
    '',
    'Every message is a CloudEvents 1.0 JSON envelope; the SNS message attribute `type` carries the CloudEvents type and',
    'every subscription filters on it. [asyncapi.json](asyncapi.json) describes the channels and operations,',
    `[schemas/](schemas/) holds one JSON Schema (draft 2020-12) per event envelope (\`<event>.v${EVENT_VERSION}.json\`).`,
    '',
    '| Topic | Publisher | Event types | Subscribed queues (consumer): filter on `type` |',
    '| --- | --- | --- | --- |',
  ];
  for (const [topic, { publisher, events }] of entries(TOPOLOGY.topics)) {
    const subscribers = entries(TOPOLOGY.queues).flatMap(([queue, q]) =>
      q.subscriptions.filter((s) => s.topic === topic).map((s) => `${code(queue)} (${q.consumer}): ${s.events.map(eventType).map(code).join(', ')}`),
    );
    lines.push(`| ${code(topic)} | ${publisher} | ${events.map(eventType).map(code).join('<br>')} | ${subscribers.join('<br>') || 'none'} |`);
  }
  lines.push('', '| Queue | Consumer | Dead-letter queue | Max receives | Visibility timeout |', '| --- | --- | --- | --- | --- |');
  for (const [queue, q] of entries(TOPOLOGY.queues)) {
    lines.push(`| ${code(queue)} | ${q.consumer} | ${code(deadLetterQueueName(queue))} | ${q.maxReceiveCount} | ${q.visibilityTimeoutSeconds} s |`);
  }
  return `${lines.join('\n')}\n`;
}

if (import.meta.main) {
  const dir = fileURLToPath(new URL('../docs/events/', import.meta.url));
  const { asyncapi, schemas } = buildEventDocs();
  rmSync(`${dir}schemas`, { recursive: true, force: true }); // no schema of a removed event survives
  mkdirSync(`${dir}schemas`, { recursive: true });
  writeFileSync(`${dir}asyncapi.json`, serialize(asyncapi));
  for (const name of EVENT_NAMES) writeFileSync(`${dir}schemas/${schemaFileName(name)}`, serialize(schemas[name]));
  writeFileSync(`${dir}README.md`, renderEventReadme());
  console.log(`docs/events/asyncapi.json, docs/events/README.md and ${EVENT_NAMES.length} schemas in docs/events/schemas/`);
}

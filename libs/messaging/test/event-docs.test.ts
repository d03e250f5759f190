import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { dataSchemaUri, EVENT_NAMES, eventType } from '@securecart/contracts';
import { buildEventDocs, renderEventReadme, schemaFileName } from '../../../scripts/generate-event-docs.ts';
import { createEvent } from '../src/envelope.ts';
import { deadLetterQueueName, TOPOLOGY, type QueueName } from '../src/topology.ts';

const docs = new URL('../../../docs/events/', import.meta.url);
const readDoc = (path: string) => readFileSync(new URL(path, docs), 'utf8');
const STALE = 'docs/events is stale: run `pnpm docs:generate`';

interface AsyncApiDoc {
  channels: Record<string, { address: string; description: string; bindings?: { sqs?: { deadLetterQueue?: { name: string } } } }>;
}

describe('docs/events', () => {
  const { asyncapi, schemas } = buildEventDocs();

  it('holds exactly what scripts/generate-event-docs.ts produces now', () => {
    expect(JSON.parse(readDoc('asyncapi.json')), STALE).toEqual(asyncapi);
    expect(readdirSync(new URL('schemas/', docs)).sort(), STALE).toEqual(EVENT_NAMES.map(schemaFileName).sort());
    for (const name of EVENT_NAMES) {
      expect(JSON.parse(readDoc(`schemas/${schemaFileName(name)}`)), `${name}: ${STALE}`).toEqual(schemas[name]);
    }
    expect(readDoc('README.md'), STALE).toBe(renderEventReadme());
  });

  it('has a schema file for every event, and every event is published on exactly one topic', () => {
    for (const name of EVENT_NAMES) {
      expect(existsSync(new URL(`schemas/${schemaFileName(name)}`, docs)), name).toBe(true);
      const topics = Object.entries(TOPOLOGY.topics).filter(([, t]) => t.events.includes(name));
      expect(topics.map(([topic]) => topic), name).toHaveLength(1);
    }
  });

  it('has envelope schemas that accept a real envelope and reject one whose data is incomplete', () => {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    formats.default(ajv); // CommonJS: the default import is module.exports, whose `default` is the plugin
    const validators = Object.fromEntries(EVENT_NAMES.map((name) => [name, ajv.compile(schemas[name]!)]));
    const validate = validators['order.cancelled']!;
    // the envelope's `dataschema` names the schema of `data`, which the envelope schema holds as its own resource
    expect(schemas['order.cancelled']).toMatchObject({
      $id: dataSchemaUri('order.cancelled').replace(/\.json$/, '.envelope.json'),
      properties: { type: { const: eventType('order.cancelled') }, data: { $id: dataSchemaUri('order.cancelled') } },
    });

    const event = createEvent({
      name: 'order.cancelled',
      source: 'orders-worker',
      subject: '5f0c1c9e-2f9a-4a53-9d3c-7d7f0b1f6a21',
      data: {
        orderId: '5f0c1c9e-2f9a-4a53-9d3c-7d7f0b1f6a21',
        customerId: 'customer-42',
        contact: { email: 'ada@example.com' },
        reason: 'customer request',
      },
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      correlationId: 'c0ffee00-0000-4000-8000-000000000001',
    });
    expect(validate(event), JSON.stringify(validate.errors)).toBe(true);
    expect(validators['order.placed']!(event)).toBe(false); // wrong type and data

    const { reason: _reason, ...incomplete } = event.data;
    expect(validate({ ...event, data: incomplete })).toBe(false);
    expect(validate.errors).toContainEqual(expect.objectContaining({ instancePath: '/data', params: { missingProperty: 'reason' } }));
  });

  it('names the dead-letter queue of every queue channel', () => {
    const { channels } = asyncapi as AsyncApiDoc;
    for (const queue of Object.keys(TOPOLOGY.queues) as QueueName[]) {
      const channel = channels[queue];
      expect(channel?.address, queue).toBe(queue);
      expect(channel?.bindings?.sqs?.deadLetterQueue?.name, queue).toBe(deadLetterQueueName(queue));
      expect(channel?.description, queue).toContain(deadLetterQueueName(queue));
    }
  });
});

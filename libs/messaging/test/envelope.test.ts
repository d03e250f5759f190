import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { backoffSeconds, createEvent, filterPolicy, InvalidEventError, parseEvent, topicOf, TOPOLOGY } from '../src/index.ts';

const data = { orderId: randomUUID(), customerId: 'c-1', contact: {}, reason: 'late' };

describe('CloudEvents envelopes', () => {
  it('round-trips through JSON and validates on the way in', () => {
    const event = createEvent({ name: 'order.cancelled', source: 'orders-worker', subject: data.orderId, data, correlationId: 'c' });
    expect(event).toMatchObject({ specversion: '1.0', type: 'com.securecart.order.cancelled', source: '/securecart/orders-worker', correlationid: 'c' });
    expect(parseEvent(JSON.stringify(event))).toEqual(event);
  });

  it.each([
    ['not JSON', '{nope'],
    ['not an envelope', '{"hello":1}'],
    ['an unknown type', JSON.stringify({ specversion: '1.0', id: 'x', type: 'com.securecart.order.teleported', data: {} })],
    ['data that breaks its schema', JSON.stringify({ specversion: '1.0', id: 'x', type: 'com.securecart.order.cancelled', data: { orderId: 1 } })],
  ])('refuses %s', (_what, body) => {
    expect(() => parseEvent(body)).toThrow(InvalidEventError);
  });

  it('refuses a traceparent that is not W3C Trace Context', () => {
    expect(() => createEvent({ name: 'order.cancelled', source: 's', subject: 'x', data, traceparent: 'abc' })).toThrow(/traceparent/);
  });
});

describe('topology', () => {
  it('has a dead-letter rule of 5 receives on every queue, as the topology requires', () => {
    expect(Object.values(TOPOLOGY.queues).every((q) => q.maxReceiveCount === 5)).toBe(true);
  });

  it('subscribes each queue only to events its topic carries', () => {
    for (const queue of Object.values(TOPOLOGY.queues)) {
      for (const s of queue.subscriptions) expect(TOPOLOGY.topics[s.topic].events).toEqual(expect.arrayContaining(s.events));
    }
  });

  it('filters on the full CloudEvents type and finds the topic of an event', () => {
    expect(filterPolicy(['order.placed'])).toEqual({ type: ['com.securecart.order.placed'] });
    expect(topicOf('payment.captured')).toBe('fulfillment-events');
  });

  it('backs off exponentially, capped at 15 minutes', () => {
    expect([1, 2, 5, 20].map(backoffSeconds)).toEqual([2, 4, 32, 900]);
  });
});

describe('addresses from Copilot', () => {
  it('finds a worker queue in COPILOT_QUEUE_URI, then in COPILOT_TOPIC_QUEUE_URIS, and says what is missing', async () => {
    const { queueUrlFrom } = await import('../src/index.ts');
    expect(queueUrlFrom({ COPILOT_QUEUE_URI: 'https://sqs/q' }, undefined, 'orders-intake')).toBe('https://sqs/q');
    expect(queueUrlFrom({ COPILOT_TOPIC_QUEUE_URIS: JSON.stringify({ ordersIntake: 'https://sqs/oi' }) }, undefined, 'orders-intake')).toBe('https://sqs/oi');
    expect(() => queueUrlFrom({}, undefined, 'orders-intake')).toThrow(/COPILOT_QUEUE_URI/);
    expect(() => queueUrlFrom({ COPILOT_TOPIC_QUEUE_URIS: 'nope' }, undefined, 'orders-intake')).toThrow(/JSON object/);
  });

  it('gives a worker’s second queue its own COPILOT_TOPIC_QUEUE_URIS entry, never the shared COPILOT_QUEUE_URI', async () => {
    const { queueUrlFrom } = await import('../src/index.ts');
    const env = {
      COPILOT_QUEUE_URI: 'https://sqs/shared',
      COPILOT_TOPIC_QUEUE_URIS: JSON.stringify({ ordersFulfillmentUpdates: 'https://sqs/ofu' }),
    };
    expect(queueUrlFrom(env, undefined, 'orders-intake')).toBe('https://sqs/shared');
    expect(queueUrlFrom(env, undefined, 'orders-fulfillment-updates', { shared: false })).toBe('https://sqs/ofu');
    expect(() => queueUrlFrom({ COPILOT_QUEUE_URI: 'https://sqs/shared' }, undefined, 'orders-fulfillment-updates', { shared: false })).toThrow(
      /name it in COPILOT_TOPIC_QUEUE_URIS/,
    );
  });

  it('names a topic-specific queue the way Copilot does: <service><Topic>EventsQueue, letters and digits only', async () => {
    const { copilotTopicQueueKey } = await import('../src/index.ts');
    // the examples of Copilot's docs (worker-service manifest, COPILOT_TOPIC_QUEUE_URIS)
    expect(copilotTopicQueueKey('merchant', 'orders')).toBe('merchantOrdersEventsQueue');
    expect(copilotTopicQueueKey('merchant', 'transactions.fifo')).toBe('merchantTransactionsfifoEventsQueue');
    expect(copilotTopicQueueKey('fulfillment', 'fulfillmentEvents')).toBe('fulfillmentFulfillmenteventsEventsQueue');
    expect(copilotTopicQueueKey('orders-worker', 'order-events')).toBe('ordersworkerOrdereventsEventsQueue');
  });

  it('finds the orders-worker’s fulfillment-updates queue under the key Copilot injects, whatever its casing', async () => {
    const { queueUrlFrom } = await import('../src/index.ts');
    for (const key of ['fulfillmentFulfillmenteventsEventsQueue', 'fulfillmentFulfillmentEventsEventsQueue']) {
      const env = { COPILOT_QUEUE_URI: 'https://sqs/intake', COPILOT_TOPIC_QUEUE_URIS: JSON.stringify({ [key]: 'https://sqs/updates' }) };
      expect(queueUrlFrom(env, undefined, 'orders-fulfillment-updates', { shared: false })).toBe('https://sqs/updates');
      // the intake queue is the shared one: another topic's entry is never taken for it
      expect(queueUrlFrom(env, undefined, 'orders-intake')).toBe('https://sqs/intake');
    }
    const otherTopic = { COPILOT_TOPIC_QUEUE_URIS: JSON.stringify({ checkoutCheckouteventsEventsQueue: 'https://sqs/intake' }) };
    expect(() => queueUrlFrom(otherTopic, undefined, 'orders-fulfillment-updates', { shared: false })).toThrow(/name it in COPILOT_TOPIC_QUEUE_URIS/);
    expect(queueUrlFrom(otherTopic, undefined, 'orders-intake')).toBe('https://sqs/intake');
  });

  it('finds a topic ARN under its manifest name, the topology name or its camelCase', async () => {
    const { topicArnsFromCopilot } = await import('../src/index.ts');
    const arns = JSON.stringify({ orderEvents: 'arn:order', 'checkout-events': 'arn:checkout' });
    expect(topicArnsFromCopilot({ COPILOT_SNS_TOPIC_ARNS: arns }, ['order-events', 'checkout-events', 'catalog-events'])).toEqual({
      'order-events': 'arn:order',
      'checkout-events': 'arn:checkout',
    });
  });

  it('finds a publisher’s topic: bootstrapped with an emulator, from COPILOT_SNS_TOPIC_ARNS in AWS, else a clear error', async () => {
    const { topicArnFrom } = await import('../src/index.ts');
    const local = { topicArns: { 'order-events': 'arn:local:order-events' } } as unknown as Parameters<typeof topicArnFrom>[1];
    expect(topicArnFrom({}, local, 'order-events')).toBe('arn:local:order-events');
    expect(topicArnFrom({ COPILOT_SNS_TOPIC_ARNS: JSON.stringify({ orderEvents: 'arn:aws:sns:orderEvents' }) }, undefined, 'order-events')).toBe('arn:aws:sns:orderEvents');
    expect(() => topicArnFrom({}, undefined, 'order-events')).toThrow(/COPILOT_SNS_TOPIC_ARNS/);
  });
});

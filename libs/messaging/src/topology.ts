/**
 * The one definition of SecureCart's messaging topology (docs/architecture.md): topics and who publishes to them, queues
 * and who consumes them, which event types each subscription lets through (an SNS filter policy on the `type`
 * message attribute), and the dead-letter queue behind every queue. The local bootstrap creates exactly this;
 * the deployment manifests and docs/events are generated from it or tested against it.
 */
import { eventType, type EventName } from '@securecart/contracts';

export type TopicName = 'checkout-events' | 'order-events' | 'fulfillment-events' | 'catalog-events';
export type QueueName = 'orders-intake' | 'fulfillment' | 'notifications' | 'orders-fulfillment-updates';

export interface TopicDefinition {
  publisher: string;
  events: EventName[];
}

export interface QueueDefinition {
  consumer: string;
  subscriptions: { topic: TopicName; events: EventName[] }[];
  /** receives before a message moves to the dead-letter queue */
  maxReceiveCount: number;
  visibilityTimeoutSeconds: number;
}

export interface Topology {
  topics: Record<TopicName, TopicDefinition>;
  queues: Record<QueueName, QueueDefinition>;
}

const queueDefaults = { maxReceiveCount: 5, visibilityTimeoutSeconds: 30 };

export const TOPOLOGY: Topology = {
  topics: {
    'checkout-events': { publisher: 'checkout', events: ['order.submitted'] },
    'order-events': {
      publisher: 'orders-worker',
      events: ['order.placed', 'order.cancelled', 'order.confirmed', 'order.shipped', 'order.rejected', 'order.refunded'],
    },
    'fulfillment-events': {
      publisher: 'fulfillment',
      events: ['inventory.reserved', 'payment.captured', 'shipment.created', 'fulfillment.failed', 'fulfillment.compensated'],
    },
    'catalog-events': { publisher: 'catalog', events: ['product.created', 'product.updated', 'product.archived', 'stock.changed'] },
  },
  queues: {
    'orders-intake': { consumer: 'orders-worker', subscriptions: [{ topic: 'checkout-events', events: ['order.submitted'] }], ...queueDefaults },
    fulfillment: { consumer: 'fulfillment', subscriptions: [{ topic: 'order-events', events: ['order.placed', 'order.cancelled'] }], ...queueDefaults },
    notifications: {
      consumer: 'notifications',
      subscriptions: [{ topic: 'order-events', events: ['order.confirmed', 'order.shipped', 'order.rejected', 'order.cancelled', 'order.refunded'] }],
      ...queueDefaults,
    },
    'orders-fulfillment-updates': {
      consumer: 'orders-worker',
      subscriptions: [
        // Not inventory.reserved: it changes no order status, and one message fewer per order is a queue hop fewer in a
        // flash sale. It stays on fulfillment-events for anyone else who wants it.
        { topic: 'fulfillment-events', events: ['payment.captured', 'shipment.created', 'fulfillment.failed', 'fulfillment.compensated'] },
      ],
      ...queueDefaults,
    },
  },
};

export const deadLetterQueueName = (queue: QueueName) => `${queue}-dlq`;

/** The SNS filter policy of a subscription: only these `type` attributes reach the queue. */
export function filterPolicy(events: EventName[]): { type: string[] } {
  return { type: events.map(eventType) };
}

/** The topic an event is published on. */
export function topicOf(event: EventName, topology: Topology = TOPOLOGY): TopicName {
  const found = (Object.entries(topology.topics) as [TopicName, TopicDefinition][]).find(([, t]) => t.events.includes(event));
  if (!found) throw new Error(`no topic carries ${event}`);
  return found[0];
}

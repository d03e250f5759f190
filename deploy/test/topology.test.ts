/**
 * The messaging of the deployment held to the one topology definition (libs/messaging/src/topology.ts): the topics
 * each service publishes, each worker's subscriptions and filter policies, its queues' receive count and visibility,
 * raw delivery on every subscription, the services finding their topics and queues in what Copilot injects, and the
 * bootstrap that breaks the subscription cycle between fulfillment and the orders-worker.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { queueUrlFrom, topicArnsFromCopilot } from '../../libs/messaging/src/addresses.ts';
import { filterPolicy, TOPOLOGY, type QueueName, type TopicName } from '../../libs/messaging/src/topology.ts';
import { queueUrl, taskEnvironment, topicArn } from './processes.ts';
import {
  COPILOT_DIR, copilotTopicName, DEPLOY_DIR, logicalIdSafe, readManifest, readYaml, serviceNames, subscriptionLogicalId, type Manifest, type TopicSubscription,
} from './workspace.ts';

describe('topics and subscriptions', () => {
  const topicsOf = (service: string) => (Object.entries(TOPOLOGY.topics) as [TopicName, { publisher: string }][]).filter(([, t]) => t.publisher === service).map(([name]) => name);
  const queuesOf = (service: string) => (Object.entries(TOPOLOGY.queues) as [QueueName, (typeof TOPOLOGY.queues)[QueueName]][]).filter(([, q]) => q.consumer === service);

  it('names each topic as the topology does, in camelCase: letters and digits only', () => {
    for (const service of serviceNames()) {
      for (const topic of readManifest(service).publish?.topics ?? []) {
        // Copilot allows hyphens, but strips them from some ARNs it writes (a topic-specific queue's policy,
        // partials/cf/subscribe.yml), so a hyphenated topic could not reach such a queue.
        expect(topic.name, service).toMatch(/^[a-z][A-Za-z0-9]*$/);
        expect(logicalIdSafe(topic.name)).toBe(topic.name);
      }
    }
  });

  it('publishes from each service exactly the topics the topology gives it', () => {
    for (const service of serviceNames()) {
      const published = (readManifest(service).publish?.topics ?? []).map((t) => t.name).sort();
      expect(published, service).toEqual(topicsOf(service).map(copilotTopicName).sort());
    }
  });

  it('subscribes each worker to exactly its queues’ topics, with the topology’s filter policies', () => {
    for (const service of serviceNames()) {
      const subscriptions = readManifest(service).subscribe?.topics ?? [];
      const expected = queuesOf(service).flatMap(([, queue]) =>
        queue.subscriptions.map((sub) => ({ name: copilotTopicName(sub.topic), service: TOPOLOGY.topics[sub.topic].publisher, filter_policy: filterPolicy(sub.events) })),
      );
      expect(subscriptions.map(({ name, service: publisher, filter_policy }) => ({ name, service: publisher, filter_policy })), service).toEqual(expected);
    }
  });

  it('gives a worker’s first queue the shared queue and each further queue its own, all with the topology’s receive count and visibility', () => {
    for (const service of serviceNames()) {
      const manifest = readManifest(service);
      const queues = queuesOf(service);
      if (queues.length === 0) {
        expect(manifest.subscribe, service).toBeUndefined();
        continue;
      }
      queues.forEach(([name, queue], index) => {
        const own = (manifest.subscribe?.topics ?? []).filter((t) => queue.subscriptions.some((s) => copilotTopicName(s.topic) === t.name));
        const config = index === 0 ? manifest.subscribe?.queue : (own[0]?.queue as Exclude<TopicSubscription['queue'], boolean>);
        for (const topic of own) expect(topic.queue === undefined, `${service} ${name}: ${index === 0 ? 'shared' : 'own'} queue`).toBe(index === 0);
        expect(config?.dead_letter?.tries, `${service} ${name}`).toBe(queue.maxReceiveCount);
        expect(config?.timeout, `${service} ${name}`).toBe(`${queue.visibilityTimeoutSeconds}s`);
      });
    }
  });

  it('lets each process find its topics and queues in the variables Copilot injects', () => {
    for (const service of serviceNames()) {
      const env = taskEnvironment(service);
      const manifest = readManifest(service);
      const published = topicsOf(service);
      expect(topicArnsFromCopilot(env, published), service).toEqual(
        Object.fromEntries(published.map((topic) => [topic, topicArn(service, copilotTopicName(topic))])),
      );
      queuesOf(service).forEach(([name, queue], index) => {
        const subscription = (manifest.subscribe?.topics ?? []).find((t) => t.name === copilotTopicName(queue.subscriptions[0]!.topic))!;
        const expected = index === 0 ? env.COPILOT_QUEUE_URI : queueUrl(service, `${logicalIdSafe(subscription.service)}${logicalIdSafe(subscription.name)}EventsQueue`);
        // the worker asks for its first queue as the shared one, and for any other with { shared: false }
        expect(queueUrlFrom(env, undefined, name, { shared: index === 0 }), `${service} ${name}`).toBe(expected);
      });
    }
  });

  it('delivers every subscription raw, with a patch on each subscription Copilot creates and on nothing else', () => {
    for (const service of serviceNames()) {
      const subscriptions = readManifest(service).subscribe?.topics ?? [];
      const file = join(COPILOT_DIR, service, 'overrides/cfn.patches.yml');
      const patches = existsSync(file) ? readYaml<unknown[]>(file) : [];
      expect(patches, service).toEqual(
        subscriptions.map((sub) => ({ op: 'add', path: `/Resources/${subscriptionLogicalId(sub)}/Properties/RawMessageDelivery`, value: true })),
      );
    }
  });

  it('bootstraps fulfillment with its manifest minus its subscriptions, and nothing else different', () => {
    const full = readManifest('fulfillment');
    const bootstrap = readYaml<Manifest>(join(DEPLOY_DIR, 'bootstrap/fulfillment.manifest.yml'));
    expect(bootstrap).toEqual({ ...full, subscribe: { queue: full.subscribe!.queue } });
    // the only subscription to break the cycle with: fulfillment ↔ orders-worker
    expect(full.subscribe!.topics!.map((t) => t.service)).toEqual(['orders-worker']);
    expect(readManifest('orders-worker').subscribe!.topics!.map((t) => t.service)).toContain('fulfillment');
  });
});

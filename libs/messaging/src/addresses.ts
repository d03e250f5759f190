/**
 * Where the topics and queues are. In AWS, Copilot injects them: `COPILOT_SNS_TOPIC_ARNS` (a JSON map of topic
 * name to ARN, for a service that publishes), `COPILOT_QUEUE_URI` (a worker's queue) and
 * `COPILOT_TOPIC_QUEUE_URIS` (a JSON map of topic-specific queues). Elsewhere (embedded mode, compose, tests) the
 * bootstrap creates the topology and returns its addresses by name.
 *
 * The manifests in deploy/ name each topic in camelCase (`orderEvents`), and Copilot keys a topic-specific queue
 * `<service><Topic>EventsQueue` (`fulfillmentFulfillmenteventsEventsQueue`): see `copilotTopicQueueKey`.
 */
import type { MessagingAddresses } from './bootstrap.ts';
import { TOPOLOGY, type QueueName, type TopicName, type Topology } from './topology.ts';

export class MessagingConfigError extends Error {
  override name = 'MessagingConfigError';
}

function parseMap(variable: string, raw: string | undefined): Record<string, string> {
  if (!raw) return {};
  try {
    const value = JSON.parse(raw) as unknown;
    if (value && typeof value === 'object' && Object.values(value).every((v) => typeof v === 'string')) {
      return value as Record<string, string>;
    }
  } catch {
    // fall through
  }
  throw new MessagingConfigError(`${variable} must be a JSON object of names to strings`);
}

const camelCase = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const alphanumeric = (name: string) => name.replace(/[^a-zA-Z0-9]+/g, '');

/** The ARN of each topic this service publishes to, from Copilot's variables. */
export function topicArnsFromCopilot(env: Record<string, string | undefined>, topics: TopicName[]): Partial<Record<TopicName, string>> {
  const map = parseMap('COPILOT_SNS_TOPIC_ARNS', env.COPILOT_SNS_TOPIC_ARNS);
  const result: Partial<Record<TopicName, string>> = {};
  for (const topic of topics) {
    // Copilot keys each ARN by the topic's name in the manifest: the topology name (`order-events`) or its
    // camelCase (`orderEvents`, what deploy/ uses).
    const arn = map[topic] ?? map[camelCase(topic)];
    if (arn) result[topic] = arn;
  }
  return result;
}

/**
 * The key Copilot gives a topic-specific queue in COPILOT_TOPIC_QUEUE_URIS: the publishing service and the topic,
 * each stripped of everything but letters and digits, the topic title-cased, then `EventsQueue`
 * (aws/copilot-cli internal/pkg/template/template_functions.go, generateQueueURIJSON). Copilot's title-casing
 * changed between releases (strings.Title kept `fulfillmentEvents`' inner capital, cases.Title lowers it), so
 * keys are compared without regard to case: `fulfillmentFulfillmenteventsEventsQueue` and
 * `fulfillmentFulfillmentEventsEventsQueue` are the same queue.
 */
export function copilotTopicQueueKey(service: string, topic: string): string {
  const name = alphanumeric(topic);
  return `${alphanumeric(service)}${name.charAt(0).toUpperCase()}${name.slice(1).toLowerCase()}EventsQueue`;
}

/** The entry of a COPILOT_TOPIC_QUEUE_URIS map that holds `queue`: by the queue's own name, or by Copilot's key. */
function topicQueueEntry(map: Record<string, string>, queue: QueueName, topology: Topology): string | undefined {
  const named = map[queue] ?? map[camelCase(queue)];
  if (named) return named;
  const keys = new Set(
    topology.queues[queue].subscriptions.map(({ topic }) =>
      copilotTopicQueueKey(topology.topics[topic].publisher, camelCase(topic)).toLowerCase(),
    ),
  );
  const found = Object.keys(map).find((key) => keys.has(key.toLowerCase()));
  return found === undefined ? undefined : map[found];
}

/**
 * A worker's queue URL. In AWS: the entry of COPILOT_TOPIC_QUEUE_URIS for the queue (a topic-specific queue: named
 * after the queue, `orders-intake` or `ordersIntake`, or with the key Copilot gives it, see copilotTopicQueueKey),
 * else COPILOT_QUEUE_URI (the worker's shared queue) — but only for the worker's primary queue: a worker with a
 * second queue must not be handed the first one's URL for it (`{ shared: false }`). Elsewhere the bootstrapped
 * queue.
 */
export function queueUrlFrom(
  env: Record<string, string | undefined>,
  local: MessagingAddresses | undefined,
  queue: keyof MessagingAddresses['queueUrls'],
  options: { shared?: boolean; topology?: Topology } = {},
): string {
  const shared = options.shared ?? true;
  const topicQueues = parseMap('COPILOT_TOPIC_QUEUE_URIS', env.COPILOT_TOPIC_QUEUE_URIS);
  const named = topicQueueEntry(topicQueues, queue, options.topology ?? TOPOLOGY);
  if (named) return named;
  if (shared && env.COPILOT_QUEUE_URI) return env.COPILOT_QUEUE_URI;
  const url = local?.queueUrls[queue];
  if (url) return url;
  throw new MessagingConfigError(
    shared
      ? `no URL for queue ${queue}: set COPILOT_QUEUE_URI (or COPILOT_TOPIC_QUEUE_URIS) or bootstrap the topology`
      : `no URL for queue ${queue}: name it in COPILOT_TOPIC_QUEUE_URIS or bootstrap the topology`,
  );
}

export { parseMap as parseCopilotMap };

/** The ARN of the topic a service publishes to: the bootstrapped one with an emulator, Copilot's in AWS. */
export function topicArnFrom(env: { COPILOT_SNS_TOPIC_ARNS?: string | undefined }, local: MessagingAddresses | undefined, topic: TopicName): string {
  const arn = local?.topicArns[topic] ?? topicArnsFromCopilot({ COPILOT_SNS_TOPIC_ARNS: env.COPILOT_SNS_TOPIC_ARNS }, [topic])[topic];
  if (!arn) throw new MessagingConfigError(`no ARN for ${topic}: set COPILOT_SNS_TOPIC_ARNS (AWS) or AWS_ENDPOINT_URL (an emulator)`);
  return arn;
}

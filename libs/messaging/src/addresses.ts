/**
 * Where the topics and queues are. In AWS, Copilot injects them: `COPILOT_SNS_TOPIC_ARNS` (a JSON map of topic
 * name to ARN, for a service that publishes), `COPILOT_QUEUE_URI` (a worker's queue) and
 * `COPILOT_TOPIC_QUEUE_URIS` (a JSON map of topic-specific queues). Elsewhere (embedded mode, compose, tests) the
 * bootstrap creates the topology and returns its addresses by name.
 */
import type { MessagingAddresses } from './bootstrap.ts';
import type { TopicName } from './topology.ts';

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

/** The ARN of each topic this service publishes to, from Copilot's variables. */
export function topicArnsFromCopilot(env: Record<string, string | undefined>, topics: TopicName[]): Partial<Record<TopicName, string>> {
  const map = parseMap('COPILOT_SNS_TOPIC_ARNS', env.COPILOT_SNS_TOPIC_ARNS);
  const result: Partial<Record<TopicName, string>> = {};
  for (const topic of topics) {
    // Copilot names topics in the manifest; ours use their topology names (`order-events`), or camelCase.
    const arn = map[topic] ?? map[topic.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())];
    if (arn) result[topic] = arn;
  }
  return result;
}

/**
 * A worker's queue URL. In AWS: the entry of COPILOT_TOPIC_QUEUE_URIS named after the queue (`orders-intake` or
 * `ordersIntake`: a topic-specific queue), else COPILOT_QUEUE_URI (the worker's shared queue) — but only for the
 * worker's primary queue: a worker with a second queue must not be handed the first one's URL for it
 * (`{ shared: false }`). Elsewhere the bootstrapped queue.
 */
export function queueUrlFrom(
  env: Record<string, string | undefined>,
  local: MessagingAddresses | undefined,
  queue: keyof MessagingAddresses['queueUrls'],
  options: { shared?: boolean } = {},
): string {
  const shared = options.shared ?? true;
  const topicQueues = parseMap('COPILOT_TOPIC_QUEUE_URIS', env.COPILOT_TOPIC_QUEUE_URIS);
  const named = topicQueues[queue] ?? topicQueues[queue.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())];
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

/**
 * Reads the Copilot workspace in deploy/copilot for the tests that hold the deployment to the code: manifests,
 * addon templates (CloudFormation, short-form tags included), YAML patch overrides, and Copilot's naming rules,
 * each written after the place in aws/copilot-cli that defines it (cited where it is used).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument, type Tags } from 'yaml';

export const DEPLOY_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = join(DEPLOY_DIR, '..');
export const COPILOT_DIR = join(DEPLOY_DIR, 'copilot');

// ---------------------------------------------------------------------------------------------------------------
// YAML, with CloudFormation's short forms: `!Ref X` becomes { Ref: 'X' }, `!GetAtt A.B.C` { 'Fn::GetAtt': ['A', 'B.C'] },
// `!Sub '...'` { 'Fn::Sub': '...' }, as the long forms would parse.

const INTRINSICS = ['Base64', 'Cidr', 'Equals', 'FindInMap', 'GetAtt', 'GetAZs', 'If', 'ImportValue', 'Join', 'Not', 'And', 'Or', 'Select', 'Split', 'Sub'];

function intrinsicKey(name: string): string {
  return name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`;
}

export const CLOUDFORMATION_TAGS: Tags = ['Ref', 'Condition', ...INTRINSICS].flatMap((name) => [
  {
    tag: `!${name}`,
    resolve: (value: string) => {
      if (name !== 'GetAtt') return { [intrinsicKey(name)]: value };
      const dot = value.indexOf('.');
      return { 'Fn::GetAtt': [value.slice(0, dot), value.slice(dot + 1)] };
    },
  },
  { tag: `!${name}`, collection: 'seq' as const, resolve: (seq: { toJSON(): unknown }) => ({ [intrinsicKey(name)]: seq.toJSON() }) },
  { tag: `!${name}`, collection: 'map' as const, resolve: (map: { toJSON(): unknown }) => ({ [intrinsicKey(name)]: map.toJSON() }) },
]);

/** Parses a YAML file, failing on any error or warning (an unknown tag, a duplicate key). */
export function readYaml<T = unknown>(file: string): T {
  const document = parseDocument(readFileSync(file, 'utf8'), { customTags: CLOUDFORMATION_TAGS, uniqueKeys: true, prettyErrors: true });
  const problems = [...document.errors, ...document.warnings];
  if (problems.length > 0) throw new Error(`${file}: ${problems.map((p) => p.message).join('; ')}`);
  return document.toJS() as T;
}

/** Every .yml/.yaml file under a directory (and .workspace, which is YAML too). */
export function yamlFilesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && (/\.ya?ml$/.test(entry.name) || entry.name === '.workspace'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

// ---------------------------------------------------------------------------------------------------------------
// Manifests

export interface HealthCheckArgs {
  path: string;
  success_codes?: string;
  healthy_threshold?: number;
  unhealthy_threshold?: number;
  interval?: string;
  timeout?: string;
  grace_period?: string;
}

export interface HttpRule {
  path: string;
  alias?: string;
  healthcheck: HealthCheckArgs;
  deregistration_delay?: string;
}

export interface QueueConfig {
  timeout?: string;
  retention?: string;
  dead_letter?: { tries: number };
}

export interface TopicSubscription {
  name: string;
  service: string;
  filter_policy?: Record<string, unknown>;
  queue?: QueueConfig | boolean;
}

export type ValueFrom = string | number | boolean | { from_cfn: string } | { secretsmanager: string };

export interface Manifest {
  name: string;
  type: 'Load Balanced Web Service' | 'Worker Service';
  image: {
    build: { dockerfile: string; context: string; args: Record<string, string> };
    port?: number;
    healthcheck?: { command: string[]; start_period?: string };
  };
  http?: HttpRule & { additional_rules?: HttpRule[] };
  cpu: number;
  memory: number;
  platform?: string;
  count: {
    range: string;
    cpu_percentage?: number;
    requests?: number;
    response_time?: string;
    queue_delay?: { acceptable_latency: string; msg_processing_time: string };
  };
  deployment?: { rollback_alarms?: string[] | Record<string, number> };
  exec?: boolean;
  network?: { vpc?: { placement?: string; security_groups?: ({ from_cfn: string } | string)[] } };
  variables?: Record<string, ValueFrom>;
  secrets?: Record<string, ValueFrom>;
  publish?: { topics: { name: string }[] };
  subscribe?: { topics?: TopicSubscription[]; queue?: QueueConfig };
  observability?: { tracing?: string };
}

/** The service directories of the workspace: every directory of deploy/copilot with a manifest, but environments/. */
export function serviceNames(): string[] {
  return readdirSync(COPILOT_DIR, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entry.name !== 'environments' && existsSync(join(COPILOT_DIR, entry.name, 'manifest.yml')))
    .map((entry) => entry.name)
    .sort();
}

export const readManifest = (service: string): Manifest => readYaml<Manifest>(join(COPILOT_DIR, service, 'manifest.yml'));

/** The prefixes a Load Balanced Web Service's rules route, as the edge writes them (`/api/cart`). */
export function routedPrefixes(manifest: Manifest): string[] {
  const rules = manifest.http ? [manifest.http, ...(manifest.http.additional_rules ?? [])] : [];
  return rules.map((rule) => `/${rule.path.replace(/^\/+/, '')}`);
}

/** Copilot's predefined manifest variables (docs: developing/manifest-env-var). */
export function interpolate(value: string, names: { app: string; env: string }): string {
  return value.replaceAll('${COPILOT_APPLICATION_NAME}', names.app).replaceAll('${COPILOT_ENVIRONMENT_NAME}', names.env);
}

// ---------------------------------------------------------------------------------------------------------------
// Copilot's naming rules

/** template_functions.go StripNonAlphaNumFunc, the `logicalIDSafe` of the workload templates. */
export const logicalIdSafe = (name: string): string => name.replace(/[^a-zA-Z0-9]+/g, '');

/** The logical ID of a subscription in the worker's stack (templates/workloads/partials/cf/subscribe.yml). */
export const subscriptionLogicalId = (sub: Pick<TopicSubscription, 'service' | 'name'>) =>
  `${logicalIdSafe(sub.service)}${logicalIdSafe(sub.name)}SNSTopicSubscription`;

/** The logical IDs of a topic-specific queue and its dead-letter queue (subscribe.yml). */
export const topicQueueLogicalIds = (sub: Pick<TopicSubscription, 'service' | 'name'>) => ({
  queue: `${logicalIdSafe(sub.service)}${logicalIdSafe(sub.name)}EventsQueue`,
  deadLetter: `${logicalIdSafe(sub.service)}${logicalIdSafe(sub.name)}DeadLetterQueue`,
});

/**
 * The key of a topic-specific queue in COPILOT_TOPIC_QUEUE_URIS (template_functions.go generateQueueURIJSON):
 * service and topic stripped to letters and digits, the topic through cases.Title (first letter up, the rest down).
 */
export function copilotQueueUriKey(sub: Pick<TopicSubscription, 'service' | 'name'>): string {
  const topic = logicalIdSafe(sub.name);
  return `${logicalIdSafe(sub.service)}${topic.charAt(0).toUpperCase()}${topic.slice(1).toLowerCase()}EventsQueue`;
}

/** The environment variable Copilot injects for an addon output (template_functions.go ToSnakeCaseFunc). */
export function toSnakeCase(name: string): string {
  return name
    .replace(/([a-z0-9]+)([A-Z])/g, '$1_$2')
    .replace(/([A-Z0-9])([A-Z][a-z])/g, '$1_$2')
    .toUpperCase();
}

/** A topic's name in the manifests: the topology's name in camelCase (`order-events` → `orderEvents`). */
export const copilotTopicName = (topologyName: string) => topologyName.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

// ---------------------------------------------------------------------------------------------------------------
// Addons (CloudFormation)

export interface Template {
  Parameters?: Record<string, { Type: string; Default?: unknown; Description?: string }>;
  Conditions?: Record<string, unknown>;
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; DependsOn?: string | string[]; Condition?: string }>;
  Outputs?: Record<string, { Value: unknown; Description?: string; Export?: { Name: unknown } }>;
}

export interface Addons {
  dir: string;
  /** file name → template */
  templates: Record<string, Template>;
  /** addons.parameters.yml: parameter → value, evaluated in the parent stack */
  parameters: Record<string, unknown>;
}

export function readAddons(dir: string): Addons {
  const templates: Record<string, Template> = {};
  let parameters: Record<string, unknown> = {};
  if (!existsSync(dir)) return { dir, templates, parameters };
  for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    if (file === 'addons.parameters.yml') parameters = readYaml<{ Parameters: Record<string, unknown> }>(join(dir, file)).Parameters;
    else templates[file] = readYaml<Template>(join(dir, file));
  }
  return { dir, templates, parameters };
}

/** The templates of one addons directory as the single stack Copilot merges them into. */
export function merged(addons: Addons): Required<Template> {
  const result: Required<Template> = { Parameters: {}, Conditions: {}, Resources: {}, Outputs: {} };
  for (const template of Object.values(addons.templates)) {
    Object.assign(result.Parameters, template.Parameters);
    Object.assign(result.Conditions, template.Conditions);
    Object.assign(result.Resources, template.Resources);
    Object.assign(result.Outputs, template.Outputs);
  }
  return result;
}

/** Every value of a given intrinsic in a tree ({ Ref: x } → x for 'Ref'). */
export function intrinsicsIn(node: unknown, key: string): unknown[] {
  if (Array.isArray(node)) return node.flatMap((item) => intrinsicsIn(item, key));
  if (node && typeof node === 'object') {
    return Object.entries(node).flatMap(([k, v]) => (k === key ? [v, ...intrinsicsIn(v, key)] : intrinsicsIn(v, key)));
  }
  return [];
}

/** The `${Name}` and `${Name.Attribute}` of a Fn::Sub string (`${!Literal}` is not one). */
export function subVariables(template: string): string[] {
  return [...template.matchAll(/\$\{([^!}][^}]*)\}/g)].map((match) => match[1]!);
}

/** Renders an export name written `!Sub '${App}-${Env}-X'` the way a manifest's from_cfn spells it. */
export function exportNameAsManifestWrites(name: unknown): string | undefined {
  const sub = (name as { 'Fn::Sub'?: unknown } | undefined)?.['Fn::Sub'];
  if (typeof sub !== 'string') return undefined;
  return sub.replaceAll('${App}', '${COPILOT_APPLICATION_NAME}').replaceAll('${Env}', '${COPILOT_ENVIRONMENT_NAME}');
}

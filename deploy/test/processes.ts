/**
 * The processes of the code (one per entry point under services/), their configuration modules, and the environment
 * a task of each gets in AWS from its manifest, its addon and Copilot: what the deployment tests hold the manifests
 * to.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CatalogEnv, loadCatalogConfig } from '../../services/catalog/src/config.ts';
import { CheckoutEnv, loadCheckoutConfig } from '../../services/checkout/src/config.ts';
import { FulfillmentEnv, loadFulfillmentConfig } from '../../services/fulfillment/src/config.ts';
import { loadNotificationsWorkerConfig, NotificationsWorkerEnv } from '../../services/notifications/src/config.ts';
import { loadOrdersConfig, loadOrdersWorkerConfig, OrdersEnv, OrdersWorkerEnv } from '../../services/orders/src/config.ts';
import {
  COPILOT_DIR, copilotQueueUriKey, interpolate, logicalIdSafe, merged, readAddons, readManifest, REPO_DIR, toSnakeCase, type ValueFrom,
} from './workspace.ts';

export const LBWS = 'Load Balanced Web Service';
export const WORKER = 'Worker Service';

/** Every process of the code: an HTTP server (src/server.ts) or a queue worker (src/worker.ts) of a package. */
export interface Process {
  name: string;
  servicePackage: string;
  entry: string;
  kind: typeof LBWS | typeof WORKER;
}

export function processesInCode(): Process[] {
  const processes: Process[] = [];
  const packages = readdirSync(join(REPO_DIR, 'services'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  for (const pkg of packages) {
    const hasServer = existsSync(join(REPO_DIR, 'services', pkg, 'src/server.ts'));
    if (hasServer) processes.push({ name: pkg, servicePackage: pkg, entry: 'src/server.ts', kind: LBWS });
    if (existsSync(join(REPO_DIR, 'services', pkg, 'src/worker.ts'))) {
      // a package with both runs its worker as `<package>-worker` (orders-worker)
      processes.push({ name: hasServer ? `${pkg}-worker` : pkg, servicePackage: pkg, entry: 'src/worker.ts', kind: WORKER });
    }
  }
  return processes.sort((a, b) => a.name.localeCompare(b.name));
}

/** What these tests read of a TypeBox object schema. */
export interface EnvSchema {
  properties: Record<string, unknown>;
  required?: readonly string[];
}

/** Each process's configuration: its TypeBox environment schema and the loader its entry point calls. */
export const CONFIGS: Record<string, { schema: EnvSchema; load: (env: Record<string, string | undefined>) => unknown }> = {
  catalog: { schema: CatalogEnv, load: loadCatalogConfig },
  checkout: { schema: CheckoutEnv, load: loadCheckoutConfig },
  orders: { schema: OrdersEnv, load: loadOrdersConfig },
  'orders-worker': { schema: OrdersWorkerEnv, load: loadOrdersWorkerConfig },
  fulfillment: { schema: FulfillmentEnv, load: loadFulfillmentConfig },
  notifications: { schema: NotificationsWorkerEnv, load: loadNotificationsWorkerConfig },
};

/**
 * What a process's configuration requires beyond the schema's required variables, in AWS (no AWS_ENDPOINT_URL) with
 * NODE_ENV=production, as its config module and entry point check them; and AWS_REGION, without which the AWS SDK
 * would use the schema's default region (us-east-1) wherever the environment is.
 */
export const REQUIRED_IN_AWS: Record<string, string[]> = {
  catalog: ['REDIS_URL', 'COPILOT_SNS_TOPIC_ARNS', 'AWS_REGION'],
  checkout: ['COPILOT_SNS_TOPIC_ARNS', 'AWS_REGION'],
  orders: ['REDIS_URL'],
  'orders-worker': ['COPILOT_QUEUE_URI', 'COPILOT_TOPIC_QUEUE_URIS', 'COPILOT_SNS_TOPIC_ARNS', 'AWS_REGION'],
  fulfillment: ['COPILOT_QUEUE_URI', 'COPILOT_SNS_TOPIC_ARNS', 'AWS_REGION'],
  notifications: ['NOTIFY_EMAIL_FROM', 'COPILOT_QUEUE_URI', 'AWS_REGION'],
};

export const NAMES = { app: 'securecart', env: 'prod' };
export const REGION = 'eu-west-1'; // not the configs' default, so a task that ignored AWS_REGION would show
export const ACCOUNT = '123456789012';

/** The workload addon directory of a service, merged. */
export const addonsOf = (service: string) => merged(readAddons(join(COPILOT_DIR, service, 'addons')));

/** Sample values for the secrets the manifests inject, with the shape the environment addons give them. */
function secretSamples(): Record<string, string> {
  const environment = merged(readAddons(join(COPILOT_DIR, 'environments/addons')));
  const render = (resource: string) => {
    const template = (environment.Resources[resource]?.Properties?.SecretString as { 'Fn::Sub': string })['Fn::Sub'];
    return template
      .replace(/\{\{resolve:secretsmanager:\$\{\w+\}:SecretString:(\w+)\}\}/g, (_, key: string) => ({ username: 'securecart', password: 'A1b2C3', token: 'T0k3n' })[key] ?? key)
      .replace(/\$\{(\w+)\.(\w+)\.(\w+)\}/g, (_, id: string, attribute: string, field: string) =>
        field === 'Port' ? (id.startsWith('Redis') ? '6379' : '5432') : `${id.toLowerCase()}-${attribute.toLowerCase()}.${REGION}.amazonaws.com`,
      )
      .replace(/\$\{(\w+)\}/g, (_, parameter: string) => String(environment.Parameters[parameter]?.Default ?? parameter));
  };
  return {
    DATABASE_URL: render('DatabaseUrlSecret'),
    DATABASE_READ_URL: render('DatabaseReadUrlSecret'),
    REDIS_URL: render('RedisUrlSecret'),
    AUTH_JWKS_URL: `https://cognito-idp.${REGION}.amazonaws.com/${REGION}_AbCdEf/.well-known/jwks.json`,
    AUTH_ISSUER: `https://cognito-idp.${REGION}.amazonaws.com/${REGION}_AbCdEf`,
    AUTH_AUDIENCE: '4example5clientid',
    NOTIFY_EMAIL_FROM: 'SecureCart <orders@shop.example>',
  };
}

export const topicArn = (service: string, topic: string) => `arn:aws:sns:${REGION}:${ACCOUNT}:${NAMES.app}-${NAMES.env}-${service}-${topic}`;
export const queueUrl = (service: string, id: string) => `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${NAMES.app}-${NAMES.env}-${service}-${id}-X1Y2Z3`;

/**
 * The environment a task of `service` gets in AWS: what Copilot injects itself (templates/workloads/partials/cf/
 * envvars-common.yml), the manifest's variables and secrets, and its addon's outputs (but policies and secrets).
 */
export function taskEnvironment(service: string): Record<string, string> {
  const manifest = readManifest(service);
  const env: Record<string, string> = {
    COPILOT_APPLICATION_NAME: NAMES.app,
    COPILOT_ENVIRONMENT_NAME: NAMES.env,
    COPILOT_SERVICE_NAME: service,
    COPILOT_SERVICE_DISCOVERY_ENDPOINT: `${NAMES.env}.${NAMES.app}.local`,
  };
  if (manifest.type === LBWS) env.COPILOT_LB_DNS = 'securecart-prod-public-123.eu-west-1.elb.amazonaws.com';
  if (manifest.publish?.topics.length) {
    env.COPILOT_SNS_TOPIC_ARNS = JSON.stringify(Object.fromEntries(manifest.publish.topics.map((t) => [t.name, topicArn(service, t.name)])));
  }
  if (manifest.type === WORKER) env.COPILOT_QUEUE_URI = queueUrl(service, 'EventsQueue');
  const topicQueues = (manifest.subscribe?.topics ?? []).filter((t) => t.queue);
  if (topicQueues.length > 0) {
    env.COPILOT_TOPIC_QUEUE_URIS = JSON.stringify(Object.fromEntries(topicQueues.map((t) => [copilotQueueUriKey(t), queueUrl(service, `${logicalIdSafe(t.service)}${logicalIdSafe(t.name)}EventsQueue`)])));
  }
  for (const [name, value] of Object.entries(manifest.variables ?? {})) env[name] = interpolate(String(value as string), NAMES);
  const samples = secretSamples();
  for (const name of Object.keys(manifest.secrets ?? {})) {
    const sample = samples[name];
    if (sample === undefined) throw new Error(`${service}: no sample value for the secret ${name} (secretSamples in deploy/test/processes.ts)`);
    env[name] = sample;
  }
  for (const [name, output] of Object.entries(addonOutputsInjected(service))) env[name] = output;
  return env;
}

/** The addon outputs Copilot injects as environment variables: all but managed policies and secrets. */
export function addonOutputsInjected(service: string): Record<string, string> {
  const addons = addonsOf(service);
  const result: Record<string, string> = {};
  for (const [name, output] of Object.entries(addons.Outputs)) {
    const ref = (output.Value as { Ref?: string }).Ref;
    const type = ref ? addons.Resources[ref]?.Type : undefined;
    if (type === 'AWS::IAM::ManagedPolicy' || type === 'AWS::SecretsManager::Secret') continue;
    result[toSnakeCase(name)] = ref === 'AWS::Region' ? REGION : JSON.stringify(output.Value);
  }
  return result;
}

export const isPlainValue = (value: ValueFrom): value is string | number | boolean => typeof value !== 'object';

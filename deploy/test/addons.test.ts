/**
 * The CloudFormation addons of deploy/copilot, checked without AWS: every YAML file parses (CloudFormation's
 * short-form tags included), every addon declares the parameters Copilot passes and resolves every reference within
 * the stack Copilot merges it into, every value it takes from its parent stack names a resource Copilot creates
 * there, and each service has the alarms and the (least) permissions its queues and load balancer rules call for.
 */
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TOPOLOGY, type QueueName } from '../../libs/messaging/src/topology.ts';
import {
  COPILOT_DIR, copilotTopicName, DEPLOY_DIR, intrinsicsIn, merged, readAddons, readManifest, readYaml, serviceNames, subVariables, topicQueueLogicalIds,
  yamlFilesUnder, type Addons, type Manifest, type Template,
} from './workspace.ts';

const ENVIRONMENT_ADDONS = join(COPILOT_DIR, 'environments/addons');
const PSEUDO_PARAMETERS = ['AWS::AccountId', 'AWS::NoValue', 'AWS::Partition', 'AWS::Region', 'AWS::StackId', 'AWS::StackName', 'AWS::URLSuffix'];

/** Every addons directory: the environment's, then each service's, with what Copilot passes to it. */
const addonDirs = () => [
  { name: 'environment', dir: ENVIRONMENT_ADDONS, copilotParameters: ['App', 'Env'] },
  ...serviceNames().map((service) => ({ name: service, dir: join(COPILOT_DIR, service, 'addons'), copilotParameters: ['App', 'Env', 'Name'] })),
];

type Resource = Template['Resources'][string];
const subString = (value: unknown) => (value as { 'Fn::Sub'?: string } | undefined)?.['Fn::Sub'];
const resourcesOfType = (template: Required<Template>, type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
const alarmName = (alarm: Resource) => subString(alarm.Properties!.AlarmName);

/** The logical IDs of the parent stack an addons.parameters.yml may name: what Copilot creates for this manifest. */
function parentStackIds(manifest: Manifest | undefined): string[] {
  if (!manifest) return ['VPC', 'PrivateSubnet1', 'PrivateSubnet2', 'PublicSubnet1', 'PublicSubnet2'];
  if (manifest.type === 'Load Balanced Web Service') {
    // one target group per rule: TargetGroup, TargetGroup1, ... (partials/cf/alb.yml)
    const rules = manifest.http?.additional_rules?.length ?? 0;
    return ['EnvControllerAction', 'Service', 'TaskRole', 'LogGroup', 'TargetGroup', ...Array.from({ length: rules }, (_, i) => `TargetGroup${i + 1}`)];
  }
  const ids = ['Service', 'TaskRole', 'LogGroup', 'EventsQueue'];
  if (manifest.subscribe?.queue?.dead_letter) ids.push('DeadLetterQueue');
  for (const topic of manifest.subscribe?.topics ?? []) {
    if (!topic.queue) continue;
    const { queue, deadLetter } = topicQueueLogicalIds(topic);
    ids.push(queue);
    if (typeof topic.queue === 'object' && topic.queue.dead_letter) ids.push(deadLetter);
  }
  return ids;
}

/** The parent-stack expression an addon parameter is given (addons.parameters.yml), as [logical ID, attribute]. */
function parentValue(addons: Addons, parameter: unknown): [string, string] | undefined {
  const name = (parameter as { Ref?: string }).Ref;
  const value = name ? (addons.parameters[name] as { 'Fn::GetAtt'?: [string, string] } | undefined) : undefined;
  return value?.['Fn::GetAtt'];
}

describe('every YAML file in deploy/', () => {
  it('parses, CloudFormation tags included, without an error or a warning', () => {
    const files = yamlFilesUnder(DEPLOY_DIR);
    expect(files.length).toBeGreaterThan(20);
    for (const file of files) expect(() => readYaml(file), relative(DEPLOY_DIR, file)).not.toThrow();
  });
});

describe('each addons directory', () => {
  it('declares in every template the parameters Copilot passes (App, Env, and Name for a service), as strings', () => {
    for (const { name, dir, copilotParameters } of addonDirs()) {
      const addons = readAddons(dir);
      expect(Object.keys(addons.templates).length, name).toBeGreaterThan(0);
      for (const [file, template] of Object.entries(addons.templates)) {
        for (const parameter of copilotParameters) expect(template.Parameters?.[parameter]?.Type, `${name}/${file} ${parameter}`).toBe('String');
        expect(Object.keys(template.Resources ?? {}).length, `${name}/${file} has a resource`).toBeGreaterThan(0);
      }
    }
  });

  it('merges into one stack: shared parameters identical, no resource, output or condition defined twice', () => {
    for (const { name, dir } of addonDirs()) {
      const templates = Object.entries(readAddons(dir).templates);
      const seen = { Resources: new Map<string, string>(), Outputs: new Map<string, string>(), Conditions: new Map<string, string>() };
      const parameters = new Map<string, unknown>();
      for (const [file, template] of templates) {
        for (const [parameter, definition] of Object.entries(template.Parameters ?? {})) {
          if (parameters.has(parameter)) expect(definition, `${name}: ${parameter} in ${file}`).toEqual(parameters.get(parameter));
          parameters.set(parameter, definition);
        }
        for (const section of ['Resources', 'Outputs', 'Conditions'] as const) {
          for (const id of Object.keys(template[section] ?? {})) {
            expect(seen[section].get(id), `${name}: ${section}.${id} in ${file}`).toBeUndefined();
            seen[section].set(id, file);
          }
        }
      }
    }
  });

  it('gets a value for every parameter: from Copilot, from addons.parameters.yml, or a default', () => {
    for (const { name, dir, copilotParameters } of addonDirs()) {
      const addons = readAddons(dir);
      const stack = merged(addons);
      for (const [parameter, definition] of Object.entries(stack.Parameters)) {
        const given = copilotParameters.includes(parameter) || parameter in addons.parameters || definition.Default !== undefined;
        expect(given, `${name}: ${parameter}`).toBe(true);
      }
      for (const parameter of Object.keys(addons.parameters)) expect(stack.Parameters, `${name}: ${parameter} is declared`).toHaveProperty(parameter);
    }
  });

  it('refers only to its own parameters, resources, conditions and CloudFormation’s pseudo parameters', () => {
    for (const { name, dir } of addonDirs()) {
      const stack = merged(readAddons(dir));
      const names = [...Object.keys(stack.Parameters), ...Object.keys(stack.Resources), ...PSEUDO_PARAMETERS];
      for (const ref of intrinsicsIn(stack, 'Ref')) expect(names, `${name}: Ref ${String(ref)}`).toContain(ref);
      for (const getAtt of intrinsicsIn(stack, 'Fn::GetAtt')) expect(Object.keys(stack.Resources), `${name}: GetAtt ${String(getAtt)}`).toContain((getAtt as string[])[0]);
      for (const sub of intrinsicsIn(stack, 'Fn::Sub')) {
        const [text, locals] = typeof sub === 'string' ? [sub, {}] : (sub as [string, Record<string, unknown>]);
        for (const variable of subVariables(text)) {
          expect([...names, ...Object.keys(locals)], `${name}: \${${variable}} in ${text}`).toContain(variable.split('.')[0]);
        }
      }
      for (const [condition] of intrinsicsIn(stack, 'Fn::If') as [string][]) expect(Object.keys(stack.Conditions), `${name}: ${condition}`).toContain(condition);
      for (const resource of Object.values(stack.Resources)) {
        for (const dependency of [resource.DependsOn ?? []].flat()) expect(Object.keys(stack.Resources), name).toContain(dependency);
      }
    }
  });

  it('takes from its parent stack only resources Copilot creates there for this manifest', () => {
    for (const { name, dir } of addonDirs()) {
      const addons = readAddons(dir);
      const allowed = parentStackIds(name === 'environment' ? undefined : readManifest(name));
      for (const value of Object.values(addons.parameters)) {
        for (const ref of intrinsicsIn(value, 'Ref')) expect(allowed, `${name}: Ref ${String(ref)}`).toContain(ref);
        for (const getAtt of intrinsicsIn(value, 'Fn::GetAtt')) expect(allowed, `${name}: GetAtt ${String(getAtt)}`).toContain((getAtt as string[])[0]);
      }
    }
  });

  it('notifies the environment’s alarm topic from every alarm', () => {
    const topic = merged(readAddons(ENVIRONMENT_ADDONS)).Outputs.AlarmTopicArn;
    expect(subString(topic?.Export?.Name)).toBe('${App}-${Env}-AlarmTopicArn');
    for (const { name, dir } of addonDirs()) {
      for (const [id, alarm] of resourcesOfType(merged(readAddons(dir)), 'AWS::CloudWatch::Alarm')) {
        const expected = name === 'environment' ? [{ Ref: 'AlarmTopic' }] : [{ 'Fn::ImportValue': { 'Fn::Sub': '${App}-${Env}-AlarmTopicArn' } }];
        expect(alarm.Properties!.AlarmActions, `${name} ${id}`).toEqual(expected);
        expect(alarmName(alarm), `${name} ${id}`).toMatch(/^\$\{App\}-\$\{Env\}-/);
      }
    }
  });
});

describe('the outbox alarm', () => {
  // the services whose process relays an outbox (checkout publishes directly)
  const relaying = ['catalog', 'orders-worker', 'fulfillment'];

  it('watches the log group of each service that relays an outbox for `outboxDeadEvents`, and alarms above 0', () => {
    for (const service of relaying) {
      const addons = readAddons(join(COPILOT_DIR, service, 'addons'));
      const template = merged(addons);
      const [[, filter]] = resourcesOfType(template, 'AWS::Logs::MetricFilter') as [[string, Resource]];
      expect(addons.parameters.LogGroupName, service).toEqual({ Ref: 'LogGroup' });
      expect(filter.Properties, service).toMatchObject({ LogGroupName: { Ref: 'LogGroupName' }, FilterPattern: '{ $.outboxDeadEvents > 0 }' });
      const [transformation] = filter.Properties!.MetricTransformations as Record<string, unknown>[];
      expect(transformation!.MetricValue, service).toBe('$.outboxDeadEvents');
      const alarm = resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(([, a]) => a).find((a) => alarmName(a) === '${App}-${Env}-${Name}-outbox-dead-events');
      expect(alarm?.Properties, service).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', Statistic: 'Maximum', TreatMissingData: 'notBreaching' });
      expect(alarm!.Properties!.Namespace, service).toEqual(transformation!.MetricNamespace);
      expect(alarm!.Properties!.MetricName, service).toEqual(transformation!.MetricName);
    }
  });

  // the field is the one the relay logs: libs/messaging/test/messaging.int.test.ts checks the log line
  it('is on no other service', () => {
    for (const service of serviceNames().filter((s) => !relaying.includes(s))) {
      expect(resourcesOfType(merged(readAddons(join(COPILOT_DIR, service, 'addons'))), 'AWS::Logs::MetricFilter'), service).toEqual([]);
    }
  });
});

describe('each web service’s addon', () => {
  const webServices = () => serviceNames().filter((service) => readManifest(service).type === 'Load Balanced Web Service');

  it('alarms on the 5xx rate and the p99 latency of each of its load balancer rules', () => {
    for (const service of webServices()) {
      const manifest = readManifest(service);
      const addons = readAddons(join(COPILOT_DIR, service, 'addons'));
      const alarms = resourcesOfType(merged(addons), 'AWS::CloudWatch::Alarm').map(([, alarm]) => alarm);
      const rules = 1 + (manifest.http?.additional_rules?.length ?? 0);
      for (let rule = 0; rule < rules; rule++) {
        const suffix = rule === 0 ? '' : `-rule${rule}`;
        const targetGroup = rule === 0 ? 'TargetGroup' : `TargetGroup${rule}`;
        const errors = alarms.find((a) => alarmName(a) === `\${App}-\${Env}-\${Name}-http-5xx${suffix}`);
        const latency = alarms.find((a) => alarmName(a) === `\${App}-\${Env}-\${Name}-latency-p99${suffix}`);
        expect(errors, `${service} 5xx ${targetGroup}`).toBeDefined();
        expect(latency, `${service} p99 ${targetGroup}`).toBeDefined();
        const metrics = errors!.Properties!.Metrics as { MetricStat?: { Metric: { MetricName: string; Dimensions: { Name: string; Value: unknown }[] } } }[];
        expect(metrics.map((m) => m.MetricStat?.Metric.MetricName).filter(Boolean).sort(), service).toEqual(['HTTPCode_Target_5XX_Count', 'RequestCount']);
        for (const metric of metrics.filter((m) => m.MetricStat)) {
          const dimension = metric.MetricStat!.Metric.Dimensions.find((d) => d.Name === 'TargetGroup')!;
          expect(parentValue(addons, dimension.Value), `${service} 5xx`).toEqual([targetGroup, 'TargetGroupFullName']);
        }
        expect(latency!.Properties!.ExtendedStatistic, service).toBe('p99');
        const dimension = (latency!.Properties!.Dimensions as { Name: string; Value: unknown }[]).find((d) => d.Name === 'TargetGroup')!;
        expect(parentValue(addons, dimension.Value), `${service} p99`).toEqual([targetGroup, 'TargetGroupFullName']);
      }
    }
  });

  it('needs no permission beyond Copilot’s (its own topic, if it publishes)', () => {
    for (const service of webServices()) {
      expect(resourcesOfType(merged(readAddons(join(COPILOT_DIR, service, 'addons'))), 'AWS::IAM::ManagedPolicy'), service).toEqual([]);
    }
  });

  it('has one alarm on the load balancer’s own 5xx, for the whole shared load balancer', () => {
    const alarms = serviceNames().flatMap((service) =>
      resourcesOfType(merged(readAddons(join(COPILOT_DIR, service, 'addons'))), 'AWS::CloudWatch::Alarm').filter(([, a]) => a.Properties!.MetricName === 'HTTPCode_ELB_5XX_Count'),
    );
    expect(alarms).toHaveLength(1);
  });
});

describe('each worker’s addon', () => {
  const workers = () => serviceNames().filter((service) => readManifest(service).type === 'Worker Service');
  const queuesOf = (service: string) => (Object.keys(TOPOLOGY.queues) as QueueName[]).filter((queue) => TOPOLOGY.queues[queue].consumer === service);

  /** Copilot's logical IDs of a topology queue and its dead-letter queue in its worker's stack. */
  function queueIds(manifest: Manifest, queue: QueueName) {
    const topic = copilotTopicName(TOPOLOGY.queues[queue].subscriptions[0]!.topic);
    const subscription = manifest.subscribe!.topics!.find((t) => t.name === topic)!;
    return subscription.queue ? topicQueueLogicalIds(subscription) : { queue: 'EventsQueue', deadLetter: 'DeadLetterQueue' };
  }

  it('alarms on a dead letter and on the oldest message’s age of each of its queues', () => {
    for (const service of workers()) {
      const manifest = readManifest(service);
      const addons = readAddons(join(COPILOT_DIR, service, 'addons'));
      const alarms = resourcesOfType(merged(addons), 'AWS::CloudWatch::Alarm').map(([, alarm]) => alarm);
      for (const queue of queuesOf(service)) {
        const ids = queueIds(manifest, queue);
        const dlq = alarms.find((a) => alarmName(a) === `\${App}-\${Env}-\${Name}-dlq-${queue}`);
        const oldest = alarms.find((a) => alarmName(a) === `\${App}-\${Env}-\${Name}-oldest-${queue}`);
        expect(dlq?.Properties, `${service} ${queue} DLQ`).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
        expect(oldest?.Properties, `${service} ${queue} oldest`).toMatchObject({ MetricName: 'ApproximateAgeOfOldestMessage' });
        const dimension = (alarm: Resource) => (alarm.Properties!.Dimensions as { Name: string; Value: unknown }[]).find((d) => d.Name === 'QueueName')!.Value;
        expect(parentValue(addons, dimension(dlq!)), `${service} ${queue} DLQ`).toEqual([ids.deadLetter, 'QueueName']);
        expect(parentValue(addons, dimension(oldest!)), `${service} ${queue} oldest`).toEqual([ids.queue, 'QueueName']);
      }
    }
  });

  it('may change the visibility of its own messages (the consumer’s heartbeat and retry delay), on its own queues only', () => {
    for (const service of workers()) {
      const manifest = readManifest(service);
      const addons = readAddons(join(COPILOT_DIR, service, 'addons'));
      const stack = merged(addons);
      const policies = resourcesOfType(stack, 'AWS::IAM::ManagedPolicy');
      expect(policies, service).toHaveLength(1);
      const [policyId, policy] = policies[0]!;
      const statements = (policy.Properties!.PolicyDocument as { Statement: { Effect: string; Action: string[]; Resource: unknown }[] }).Statement;
      const visibility = statements.filter((s) => s.Action.some((a) => a.startsWith('sqs:')));
      expect(visibility.map((s) => s.Action), service).toEqual([['sqs:ChangeMessageVisibility']]);
      const queues = [visibility[0]!.Resource].flat().map((resource) => parentValue(addons, resource));
      expect(queues, service).toEqual(queuesOf(service).map((queue) => [queueIds(manifest, queue).queue, 'Arn']));
      // Copilot attaches a managed policy that the addon outputs to the task role
      expect(Object.values(stack.Outputs).map((o) => o.Value), service).toContainEqual({ Ref: policyId });
    }
  });

  it('grants nothing with a wildcard action, and a wildcard resource only for SMS, with publishing to topics denied', () => {
    for (const { name, dir } of addonDirs()) {
      for (const [id, policy] of resourcesOfType(merged(readAddons(dir)), 'AWS::IAM::ManagedPolicy')) {
        const statements = (policy.Properties!.PolicyDocument as { Statement: { Sid?: string; Effect: string; Action: string[]; Resource: unknown }[] }).Statement;
        for (const statement of statements) {
          for (const action of statement.Action) expect(action, `${name} ${id}`).not.toContain('*');
          if (statement.Effect === 'Allow' && [statement.Resource].flat().includes('*')) {
            expect(statement.Action, `${name} ${id} ${statement.Sid}`).toEqual(['sns:Publish']);
            expect(statements, `${name} ${id}`).toContainEqual(expect.objectContaining({ Effect: 'Deny', Action: ['sns:Publish'] }));
          }
        }
      }
    }
  });

  it('lets only notifications send email (SES) and SMS (SNS)', () => {
    for (const service of workers()) {
      const actions = resourcesOfType(merged(readAddons(join(COPILOT_DIR, service, 'addons'))), 'AWS::IAM::ManagedPolicy').flatMap(([, policy]) =>
        (policy.Properties!.PolicyDocument as { Statement: { Effect: string; Action: string[] }[] }).Statement.filter((s) => s.Effect === 'Allow').flatMap((s) => s.Action),
      );
      const sends = actions.filter((action) => action === 'ses:SendEmail' || action === 'sns:Publish').sort();
      expect(sends, service).toEqual(service === 'notifications' ? ['ses:SendEmail', 'sns:Publish'] : []);
    }
  });
});

describe('the environment’s addons', () => {
  const stack = () => merged(readAddons(ENVIRONMENT_ADDONS));
  const only = (type: string) => {
    const found = resourcesOfType(stack(), type);
    expect(found, type).toHaveLength(1);
    return found[0]![1].Properties!;
  };

  it('run Aurora PostgreSQL Serverless v2 with a writer and a reader instance in two Availability Zones', () => {
    const cluster = only('AWS::RDS::DBCluster');
    expect(cluster).toMatchObject({ Engine: 'aurora-postgresql', StorageEncrypted: true });
    expect(cluster.ServerlessV2ScalingConfiguration).toBeDefined();
    const instances = resourcesOfType(stack(), 'AWS::RDS::DBInstance').map(([, r]) => r.Properties!);
    expect(instances.map((i) => [i.DBInstanceClass, i.PromotionTier, i.Engine])).toEqual([
      ['db.serverless', 0, 'aurora-postgresql'],
      ['db.serverless', 1, 'aurora-postgresql'],
    ]);
    expect(instances.map((i) => (i.AvailabilityZone as { 'Fn::Select': [number, unknown] })['Fn::Select'][0])).toEqual([0, 1]);
    expect(resourcesOfType(stack(), 'AWS::RDS::DBCluster')[0]![1]).toMatchObject({ DeletionPolicy: 'Snapshot' });
  });

  it('keep the credentials in Secrets Manager and hand the services URLs composed from them: the writer, the reader, and Redis over TLS', () => {
    const resources = stack().Resources;
    const cluster = only('AWS::RDS::DBCluster');
    expect(subString(cluster.MasterUserPassword)).toBe('{{resolve:secretsmanager:${DatabaseMasterSecret}:SecretString:password}}');
    expect(resources.DatabaseMasterSecret!.Properties!.GenerateSecretString).toMatchObject({ ExcludePunctuation: true, GenerateStringKey: 'password' });
    expect(subString(resources.DatabaseUrlSecret!.Properties!.SecretString)).toMatch(/^postgresql:\/\/.*@\$\{DatabaseCluster\.Endpoint\.Address\}:/);
    expect(subString(resources.DatabaseReadUrlSecret!.Properties!.SecretString)).toMatch(/^postgresql:\/\/.*@\$\{DatabaseCluster\.ReadEndpoint\.Address\}:/);
    expect(subString(resources.RedisUrlSecret!.Properties!.SecretString)).toMatch(/^rediss:\/\/:\{\{resolve:secretsmanager:\$\{RedisAuthSecret\}:SecretString:token\}\}@\$\{RedisReplicationGroup\.PrimaryEndPoint\.Address\}:/);
    const redis = only('AWS::ElastiCache::ReplicationGroup');
    expect(redis).toMatchObject({ TransitEncryptionEnabled: true, AtRestEncryptionEnabled: true, AutomaticFailoverEnabled: true, NumCacheClusters: 2 });
    expect(subString(redis.AuthToken)).toBe('{{resolve:secretsmanager:${RedisAuthSecret}:SecretString:token}}');
  });

  it('tag every secret so that Copilot’s task execution roles of this application and environment may read it', () => {
    for (const [id, secret] of resourcesOfType(stack(), 'AWS::SecretsManager::Secret')) {
      expect(secret.Properties!.Tags, id).toEqual([
        { Key: 'copilot-application', Value: { Ref: 'App' } },
        { Key: 'copilot-environment', Value: { Ref: 'Env' } },
      ]);
    }
  });

  it('let Postgres and Redis accept connections only from their client security groups', () => {
    const ingress = resourcesOfType(stack(), 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties!);
    expect(ingress.map((rule) => [rule.GroupId, rule.SourceSecurityGroupId, rule.FromPort, rule.ToPort])).toEqual([
      [{ Ref: 'DatabaseSecurityGroup' }, { Ref: 'DatabaseClientSecurityGroup' }, 5432, 5432],
      [{ Ref: 'RedisSecurityGroup' }, { Ref: 'RedisClientSecurityGroup' }, 6379, 6379],
    ]);
    for (const [id, group] of resourcesOfType(stack(), 'AWS::EC2::SecurityGroup')) expect(group.Properties!.SecurityGroupIngress, id).toBeUndefined();
  });
});

/**
 * The Copilot manifests in deploy/copilot are held to the code here, so that a manifest cannot drift from what the
 * services need (issue 5): one manifest per process, the load balancer's rules equal to the edge's, health paths and
 * ports equal to the code's, and every variable a process's configuration requires provided by its manifest, an
 * addon output or Copilot — checked by loading each process's real configuration from the environment its task would
 * get. The topics and queues: topology.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EDGE_RULES } from '../../libs/edge/src/rules.ts';
import {
  addonOutputsInjected, addonsOf, CONFIGS, isPlainValue, LBWS, processesInCode, REGION, REQUIRED_IN_AWS, taskEnvironment,
} from './processes.ts';
import { COPILOT_DIR, DEPLOY_DIR, exportNameAsManifestWrites, merged, readAddons, readManifest, readYaml, REPO_DIR, routedPrefixes, serviceNames } from './workspace.ts';

describe('the Copilot workspace', () => {
  it('is the application securecart, in deploy/copilot', () => {
    expect(readYaml(join(COPILOT_DIR, '.workspace'))).toEqual({ application: 'securecart' });
  });

  it('has one manifest per process in services/ and none more, each of the right kind', () => {
    const processes = processesInCode();
    expect(serviceNames()).toEqual(processes.map((p) => p.name));
    for (const process of processes) {
      const manifest = readManifest(process.name);
      expect(manifest.name, process.name).toBe(process.name);
      expect(manifest.type, process.name).toBe(process.kind);
    }
    expect(Object.keys(CONFIGS).sort()).toEqual(processes.map((p) => p.name));
  });

  it('builds each image from Dockerfile.base at the repository root, for the package, entry point and health port of its process', () => {
    for (const process of processesInCode()) {
      const { build } = readManifest(process.name).image;
      // paths are relative to the workspace root, deploy/ (the directory that holds copilot/)
      expect(join(DEPLOY_DIR, build.dockerfile), process.name).toBe(join(REPO_DIR, 'Dockerfile.base'));
      expect(join(DEPLOY_DIR, build.context), process.name).toBe(REPO_DIR);
      const properties = CONFIGS[process.name]!.schema.properties as Record<string, { default?: number }>;
      const healthPort = process.kind === LBWS ? properties.PORT!.default : properties.PROBE_PORT!.default;
      expect(build.args, process.name).toEqual({ PACKAGE_DIR: `services/${process.servicePackage}`, ENTRY: process.entry, HEALTH_PORT: String(healthPort) });
      expect(existsSync(join(REPO_DIR, build.args.PACKAGE_DIR!, build.args.ENTRY!)), process.name).toBe(true);
    }
  });

  it('passes exactly the build arguments Dockerfile.base declares', () => {
    const dockerfile = readFileSync(join(REPO_DIR, 'Dockerfile.base'), 'utf8');
    const declared = [...new Set([...dockerfile.matchAll(/^ARG (\w+)\s*$/gm)].map((match) => match[1]!))].sort();
    for (const process of processesInCode()) expect(Object.keys(readManifest(process.name).image.build.args).sort(), process.name).toEqual(declared);
  });
});

describe('the load balancer', () => {
  it('routes exactly the edge’s rules (libs/edge), each service its own prefixes', () => {
    const webServices = serviceNames().filter((s) => readManifest(s).type === LBWS);
    expect(webServices).toEqual(EDGE_RULES.map((rule) => rule.service).sort());
    for (const rule of EDGE_RULES) {
      // Copilot turns a rule's path P into the conditions /P and /P/* (partials/cf/https-listener.yml): the edge's
      // "a prefix matches itself and everything below it".
      expect(routedPrefixes(readManifest(rule.service)).sort(), rule.service).toEqual([...rule.prefixes].sort());
    }
  });

  it('never routes the internal API', () => {
    for (const service of serviceNames()) {
      for (const prefix of routedPrefixes(readManifest(service))) expect(prefix.startsWith('/internal')).toBe(false);
    }
  });

  it('checks readiness on each rule and serves on the port the service listens on (its config’s PORT default)', () => {
    for (const rule of EDGE_RULES) {
      const manifest = readManifest(rule.service);
      const port = (CONFIGS[rule.service]!.schema.properties.PORT as { default: number }).default;
      expect(manifest.image.port, rule.service).toBe(port);
      expect(manifest.variables?.PORT ?? port, rule.service).toBe(port);
      for (const http of [manifest.http!, ...(manifest.http!.additional_rules ?? [])]) {
        expect(http.healthcheck.path, `${rule.service} ${http.path}`).toBe('/health/ready');
        expect(http.alias, `${rule.service} ${http.path}`).toBe('${SECURECART_DOMAIN}');
      }
      expect(manifest.http!.healthcheck.grace_period, rule.service).toMatch(/^\d+s$/);
    }
  });

  it('reaches the health endpoints the services serve (libs/http-kit)', () => {
    const health = readFileSync(join(REPO_DIR, 'libs/http-kit/src/health.ts'), 'utf8');
    expect(health).toContain("app.get('/health/ready'");
    expect(health).toContain("app.get('/health/live'");
  });
});

describe('each process', () => {
  it('checks its liveness on its own port: PORT for a web service, PROBE_PORT for a worker', () => {
    for (const process of processesInCode()) {
      const properties = CONFIGS[process.name]!.schema.properties as Record<string, { default?: number }>;
      const port = process.kind === LBWS ? properties.PORT!.default : properties.PROBE_PORT!.default;
      const command = readManifest(process.name).image.healthcheck?.command ?? [];
      // scripts/http-probe.sh, which every image carries as /usr/local/bin/http-probe
      expect(command, process.name).toEqual(['CMD', 'http-probe', String(port), '/health/live']);
    }
  });

  it('is given every variable its configuration requires in AWS, by its manifest, its addon or Copilot', () => {
    for (const process of processesInCode()) {
      const { schema } = CONFIGS[process.name]!;
      const properties = schema.properties as Record<string, { default?: unknown }>;
      const required = (schema.required ?? []).filter((name) => properties[name]?.default === undefined);
      const provided = Object.keys(taskEnvironment(process.name));
      for (const name of [...required, ...REQUIRED_IN_AWS[process.name]!]) expect(provided, `${process.name} needs ${name}`).toContain(name);
    }
  });

  it('starts with that environment: its own configuration loads it without a complaint', () => {
    for (const process of processesInCode()) {
      const env = taskEnvironment(process.name);
      const config = CONFIGS[process.name]!.load(env) as Record<string, unknown>;
      expect(config.NODE_ENV, process.name).toBe('production');
      if ('AWS_REGION' in (CONFIGS[process.name]!.schema.properties as object)) expect(config.AWS_REGION, process.name).toBe(REGION);
      expect(config.AWS_ENDPOINT_URL, process.name).toBeUndefined();
    }
  });

  it('sets only variables its configuration reads, each through the right channel (secrets for credentials and per-environment values)', () => {
    for (const process of processesInCode()) {
      const manifest = readManifest(process.name);
      const known = Object.keys(CONFIGS[process.name]!.schema.properties);
      const set = [...Object.keys(manifest.variables ?? {}), ...Object.keys(manifest.secrets ?? {}), ...Object.keys(addonOutputsInjected(process.name))];
      for (const name of set) expect(known, `${process.name} sets ${name}`).toContain(name);
      for (const [name, value] of Object.entries(manifest.variables ?? {})) expect(isPlainValue(value), `${process.name} ${name}`).toBe(true);
      for (const name of ['DATABASE_URL', 'DATABASE_READ_URL', 'REDIS_URL', 'AUTH_JWKS_URL', 'AUTH_ISSUER', 'AUTH_AUDIENCE', 'NOTIFY_EMAIL_FROM']) {
        expect(manifest.variables?.[name], `${process.name} ${name} is a secret`).toBeUndefined();
      }
      expect(manifest.variables?.NODE_ENV, process.name).toBe('production');
    }
  });

  it('reads its secrets from the environment addons’ exports or from SSM parameters named as `copilot secret init` names them', () => {
    const environment = merged(readAddons(join(COPILOT_DIR, 'environments/addons')));
    const exports = new Map(
      Object.entries(environment.Outputs)
        .filter(([, output]) => output.Export)
        .map(([name, output]) => [exportNameAsManifestWrites(output.Export!.Name), name]),
    );
    for (const process of processesInCode()) {
      for (const [name, value] of Object.entries(readManifest(process.name).secrets ?? {})) {
        if (typeof value === 'object' && 'from_cfn' in value) {
          const output = exports.get(value.from_cfn);
          expect(output, `${process.name} ${name}: ${value.from_cfn} is exported`).toBeDefined();
          const resource = environment.Resources[(environment.Outputs[output!]!.Value as { Ref: string }).Ref]!;
          expect(resource.Type, `${process.name} ${name}`).toBe('AWS::SecretsManager::Secret');
        } else {
          expect(value, `${process.name} ${name}`).toBe(`/copilot/\${COPILOT_APPLICATION_NAME}/\${COPILOT_ENVIRONMENT_NAME}/secrets/${name}`);
        }
      }
    }
  });

  it('joins the security group of each data store it uses, and only those', () => {
    for (const process of processesInCode()) {
      const manifest = readManifest(process.name);
      const groups = (manifest.network?.vpc?.security_groups ?? []).map((g) => (typeof g === 'string' ? g : g.from_cfn));
      const secrets = manifest.secrets ?? {};
      const expected = [
        ...('DATABASE_URL' in secrets ? ['${COPILOT_APPLICATION_NAME}-${COPILOT_ENVIRONMENT_NAME}-DatabaseClientSecurityGroup'] : []),
        ...('REDIS_URL' in secrets ? ['${COPILOT_APPLICATION_NAME}-${COPILOT_ENVIRONMENT_NAME}-RedisClientSecurityGroup'] : []),
      ];
      expect(groups, process.name).toEqual(expected);
      expect(manifest.network?.vpc?.placement, process.name).toBe('private');
    }
  });

  it('reaches catalog’s internal API through service discovery on catalog’s port, never through the load balancer', () => {
    const catalogPort = readManifest('catalog').image.port;
    for (const process of processesInCode()) {
      const url = readManifest(process.name).variables?.CATALOG_INTERNAL_URL;
      if (url === undefined) continue;
      // Copilot's service discovery names: <service>.<env>.<app>.local (COPILOT_SERVICE_DISCOVERY_ENDPOINT is <env>.<app>.local)
      expect(url, process.name).toBe(`http://catalog.\${COPILOT_ENVIRONMENT_NAME}.\${COPILOT_APPLICATION_NAME}.local:${catalogPort}`);
    }
    expect(readManifest('checkout').variables?.CATALOG_INTERNAL_URL).toBeDefined();
    expect(readManifest('fulfillment').variables?.CATALOG_INTERNAL_URL).toBeDefined();
  });

  it('scales: web services on CPU, requests and response time from two tasks, workers on their queue backlog from one', () => {
    for (const process of processesInCode()) {
      const { count } = readManifest(process.name);
      const [min, max] = count.range.split('-').map(Number) as [number, number];
      expect(max, process.name).toBeGreaterThan(min);
      expect(count.cpu_percentage, process.name).toBeGreaterThan(0);
      if (process.kind === LBWS) {
        expect(min, process.name).toBeGreaterThanOrEqual(2);
        expect(count.requests, process.name).toBeGreaterThan(0);
        expect(count.response_time, process.name).toMatch(/^\d+(ms|s)$/);
      } else {
        expect(min, process.name).toBeGreaterThanOrEqual(1);
        expect(count.queue_delay?.acceptable_latency, process.name).toMatch(/^\d+(ms|s|m)$/);
        expect(count.queue_delay?.msg_processing_time, process.name).toMatch(/^\d+(ms|s)$/);
      }
    }
  });

  it('rolls a deployment back on alarms its addon creates, traces to X-Ray and can be reached with copilot svc exec', () => {
    for (const process of processesInCode()) {
      const manifest = readManifest(process.name);
      const alarms = manifest.deployment?.rollback_alarms;
      expect(Array.isArray(alarms) && alarms.length > 0, process.name).toBe(true);
      const names = Object.values(addonsOf(process.name).Resources)
        .filter((resource) => resource.Type === 'AWS::CloudWatch::Alarm')
        .map((resource) => ((resource.Properties!.AlarmName as { 'Fn::Sub': string })['Fn::Sub'] ?? '').replace('${Name}', process.name));
      for (const alarm of alarms as string[]) {
        expect(names.map((n) => n.replace('${App}', '${COPILOT_APPLICATION_NAME}').replace('${Env}', '${COPILOT_ENVIRONMENT_NAME}')), process.name).toContain(alarm);
      }
      expect(manifest.observability?.tracing, process.name).toBe('awsxray');
      expect(manifest.exec, process.name).toBe(true);
    }
  });
});

describe('the environment', () => {
  const manifest = readYaml<{
    name: string;
    type: string;
    network: { vpc: { cidr: string; subnets: { public: unknown[]; private: unknown[] } } };
    http: { public: { certificates: string[] } };
    observability: { container_insights: boolean };
  }>(join(COPILOT_DIR, 'environments/prod/manifest.yml'));

  it('has a VPC over two Availability Zones, a public load balancer with an HTTPS certificate, and Container Insights', () => {
    expect(manifest).toMatchObject({ name: 'prod', type: 'Environment' });
    expect(manifest.network.vpc.subnets.public).toHaveLength(2);
    expect(manifest.network.vpc.subnets.private).toHaveLength(2);
    expect(manifest.http.public.certificates).toEqual(['${SECURECART_CERTIFICATE_ARN}']);
    expect(manifest.observability.container_insights).toBe(true);
  });
});

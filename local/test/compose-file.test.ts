/**
 * docker-compose.yml, held to the code: a valid Compose file (Debian's docker-compose validates it), a container for
 * every process in services/ built from that process's entry point, each given every variable its config schema
 * requires (and accepted by its config loader), addresses and health checks on the ports the code listens on, and
 * depends_on that brings everything up in order.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildOf, type ComposeService, PROCESSES, processesInServices, type ProcessName, readCompose, ROOT, schemaDefault } from './containers.ts';

const compose = readCompose();
const services = compose.services;
const processNames = Object.keys(PROCESSES) as ProcessName[];
/** Ports of the infrastructure images, which have no schema of ours. */
const INFRA_PORTS: Record<string, number> = { postgres: 5432, 'postgres-replica': 5432, redis: 6379, fauxqs: Number(services.fauxqs?.environment?.FAUXQS_PORT) };

const portOf = (name: string): number => {
  if (name in PROCESSES) {
    const { schema, portVariable } = PROCESSES[name as ProcessName];
    return Number(services[name]?.environment?.[portVariable] ?? schemaDefault(schema, portVariable));
  }
  return INFRA_PORTS[name]!;
};

/** Everything a service waits for, directly or through what it waits for. */
function dependenciesOf(name: string, seen = new Set<string>()): Set<string> {
  for (const dependency of Object.keys(services[name]?.depends_on ?? {})) {
    if (seen.has(dependency)) continue;
    seen.add(dependency);
    dependenciesOf(dependency, seen);
  }
  return seen;
}

function dockerCompose(): string {
  const found = ['/usr/bin/docker-compose', '/usr/local/bin/docker-compose'].find((p) => existsSync(p));
  if (!found) {
    throw new Error('docker-compose is needed to validate docker-compose.yml: `apt-get install -y docker-compose` (Debian), as .ci/run does');
  }
  return found;
}

describe('docker-compose.yml', () => {
  it('is a valid Compose file (docker-compose config)', () => {
    const result = spawnSync(dockerCompose(), ['--project-directory', ROOT, '-f', path.join(ROOT, 'docker-compose.yml'), 'config', '--quiet'], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('runs every process in services/, each built from its own entry point, plus the dev identity provider', () => {
    const inServices = processesInServices();
    expect(Object.keys(inServices).sort()).toEqual(processNames.filter((n) => n !== 'dev-idp').sort());
    for (const name of processNames) {
      const args = buildOf(compose, name)?.args;
      expect(args, `${name} has a build`).toBeDefined();
      expect(`${args!.PACKAGE_DIR}/${args!.ENTRY}`, name).toBe(PROCESSES[name].entry);
      expect(services[name]!.command, `${name} runs its image's entry point`).toBeUndefined();
      expect(services[name]!.entrypoint, name).toBeUndefined();
      expect(services[name]!.restart, name).toBe('unless-stopped');
    }
  });

  describe.each(processNames)('%s', (name) => {
    const service = services[name]!;
    const env = service.environment ?? {};
    const { schema, load, portVariable } = PROCESSES[name];
    const properties = schema.properties as Record<string, { default?: unknown }>;

    it('is given every variable its config schema requires, and only variables the schema knows', () => {
      const required = ((schema as { required?: string[] }).required ?? []).filter((key) => properties[key]?.default === undefined);
      for (const key of required) expect(env[key], `${name}: ${key}`).toBeDefined();
      for (const key of Object.keys(env)) expect(Object.keys(properties), `${name}: ${key} is not a variable of its config`).toContain(key);
    });

    it('is accepted by its config loader (the rules between variables included), as embedded mode is configured', () => {
      expect(() => load(env)).not.toThrow();
      // like embedded mode: the replica, Redis and the emulator wherever the process can use them
      for (const key of ['DATABASE_READ_URL', 'REDIS_URL', 'AWS_ENDPOINT_URL'] as const) {
        if (key in properties) expect(env[key], `${name}: ${key}`).toBeDefined();
      }
      expect(env.NODE_ENV).toBe('development');
    });

    it('reaches other containers by their service name on the port they listen on, and waits for them', () => {
      const waitsFor = dependenciesOf(name);
      for (const [key, value] of Object.entries(env)) {
        // AUTH_ISSUER names the issuer of tokens (the public address of the edge); nothing connects to it
        if (!/^[a-z]+:\/\//.test(value) || key === 'AUTH_ISSUER') continue;
        const url = new URL(value);
        expect(Object.keys(services), `${name}: ${key}=${value}`).toContain(url.hostname);
        expect(Number(url.port), `${name}: ${key}=${value}`).toBe(portOf(url.hostname));
        expect([...waitsFor], `${name} waits for ${url.hostname}`).toContain(url.hostname);
      }
    });

    it('waits only for what it uses: the containers its variables name, and the migration job if it uses the database', () => {
      const named = Object.entries(env)
        .filter(([key, value]) => /^[a-z]+:\/\//.test(value) && key !== 'AUTH_ISSUER')
        .map(([, value]) => new URL(value).hostname)
        // the primary is waited for through the migration job, which runs once it is healthy
        .map((host) => (host === 'postgres' ? 'migrate' : host));
      expect(Object.keys(service.depends_on ?? {}).sort()).toEqual([...new Set(named)].sort());
    });

    it('is healthy when /health/ready answers on the port its config listens on by default, the port its image checks', () => {
      const port = schemaDefault(schema, portVariable);
      expect(env[portVariable], `${name} keeps the default ${portVariable}`).toBeUndefined();
      expect(buildOf(compose, name)!.args!.HEALTH_PORT).toBe(String(port));
      expect(service.healthcheck?.test).toEqual(['CMD', 'http-probe', String(port), '/health/ready']);
    });
  });

  it('verifies tokens from the dev identity provider everywhere: one issuer (the edge’s public address), one audience', () => {
    const idp = services['dev-idp']!.environment!;
    expect(idp.AUTH_ISSUER).toBe(`http://localhost:${services.edge!.ports![0]!.split(':')[0]}`);
    for (const name of processNames.filter((n) => 'AUTH_JWKS_URL' in PROCESSES[n].schema.properties)) {
      const env = services[name]!.environment!;
      expect(env.AUTH_JWKS_URL, name).toBe(`http://dev-idp:${portOf('dev-idp')}/.well-known/jwks.json`);
      expect([env.AUTH_ISSUER, env.AUTH_AUDIENCE], name).toEqual([idp.AUTH_ISSUER, idp.AUTH_AUDIENCE]);
    }
  });

  it('starts nothing before what it waits for is healthy, and the services only after the migration job has succeeded', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(services[dependency], `${name} → ${dependency}`).toBeDefined();
        if (dependency === 'migrate') {
          expect(condition, `${name} → migrate`).toBe('service_completed_successfully');
        } else {
          expect(condition, `${name} → ${dependency}`).toBe('service_healthy');
          expect(services[dependency]!.healthcheck?.test, `${dependency} has a health check`).toBeDefined();
        }
      }
    }
    for (const name of processNames.filter((n) => n !== 'dev-idp')) {
      const waitsFor = dependenciesOf(name);
      const usesDatabase = 'DATABASE_URL' in (services[name]!.environment ?? {});
      if (usesDatabase) expect([...waitsFor], name).toEqual(expect.arrayContaining(['migrate', 'postgres']));
    }
  });

  it('migrates like `pnpm db:migrate` and seeds like `pnpm db:seed`, once, with the tools image', () => {
    const scripts = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const expected = [...scripts['db:migrate']!.split('&&'), scripts['db:seed']!].map((c) => c.trim());
    const migrate = services.migrate!;
    expect(migrate.entrypoint).toEqual(['/usr/bin/tini', '--', 'sh', '-ec']);
    expect(migrate.command).toHaveLength(1);
    expect(migrate.command![0]!.trim().split('\n').map((l) => l.trim())).toEqual(expected);
    expect(migrate.environment?.DATABASE_URL).toBe(services.catalog!.environment?.DATABASE_URL);
    expect(migrate.restart).toBe('no');
    expect(buildOf(compose, 'migrate')?.args?.PACKAGE_DIR).toBe('local');
  });

  it('runs the emulator and the identity provider from the tools image, which is built once', () => {
    const tools = ['fauxqs', 'migrate', 'dev-idp'].map((n) => services[n]!);
    expect(new Set(tools.map((s) => s.image)).size).toBe(1);
    // one build among them: Compose builds the image once (three builds made three images, two of them left dangling)
    expect(tools.filter((s) => s.build)).toHaveLength(1);
    // the emulator entry with a graceful stop (fauxqs's own server entry exits 143 on SIGTERM)
    expect(services.fauxqs!.command).toEqual(['local/src/sqs-emulator.ts']);
    expect(existsSync(path.join(ROOT, 'local/src/sqs-emulator.ts'))).toBe(true);
  });

  it('writes notifications to a folder in a volume', () => {
    const notifications = services.notifications!;
    expect(notifications.environment?.NOTIFY_CHANNELS).toBe('local-sink');
    const sink = notifications.environment!.LOCAL_SINK_DIR!;
    const mount = (notifications.volumes ?? []).map((v) => v.split(':')).find(([source, target]) => compose.volumes && source! in compose.volumes && sink.startsWith(target!));
    expect(mount, `a named volume holds ${sink}`).toBeDefined();
  });

  it('runs a Postgres 15 primary with a streaming replica set up by the scripts in compose/postgres', () => {
    const primary = services.postgres!;
    const replica = services['postgres-replica']!;
    expect(primary.image).toMatch(/^postgres:15\b/);
    expect(replica.image).toBe(primary.image);
    expect(primary.volumes).toContain('./compose/postgres/primary-init.sh:/docker-entrypoint-initdb.d/10-replication.sh:ro');
    expect(primary.command?.join(' ')).toContain('wal_level=replica');
    expect(replica.entrypoint).toEqual(['/usr/local/bin/replica-entrypoint.sh']);
    expect(replica.user).toBe('postgres');
    expect(replica.environment?.PRIMARY_HOST).toBe('postgres');
    for (const key of ['REPLICATION_USER', 'REPLICATION_PASSWORD', 'REPLICATION_SLOT']) {
      expect(replica.environment?.[key], key).toBe(primary.environment?.[key]);
    }
    expect(services.redis!.image).toMatch(/^redis:7\b/);
  });

  it('mounts only files that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('./')) expect(existsSync(path.join(ROOT, source)), `${name}: ${source}`).toBe(true);
      }
    }
  });

  it('puts the edge on :8080, nginx with compose/nginx/edge.conf, its upstreams the services on their ports, after all of them', () => {
    const edge: ComposeService = services.edge!;
    expect(edge.image).toMatch(/^nginx:\d+\.\d+/);
    expect(edge.ports).toEqual(['8080:8080']);
    expect(edge.volumes).toEqual(['./compose/nginx/edge.conf:/etc/nginx/conf.d/default.conf:ro']);
    expect(Object.keys(edge.depends_on ?? {}).sort()).toEqual([...processNames].sort());
    const conf = readFileSync(path.join(ROOT, 'compose/nginx/edge.conf'), 'utf8');
    expect(conf).toMatch(/^\s*listen 8080;/m);
    const upstreams = [...conf.matchAll(/upstream\s+([\w-]+)\s*\{\s*server\s+([\w-]+):(\d+);/g)].map(([, upstream, host, port]) => ({ upstream, host, port: Number(port) }));
    expect(upstreams.map((u) => u.upstream).sort()).toEqual(['catalog', 'checkout', 'dev-idp', 'orders']);
    for (const { upstream, host, port } of upstreams) {
      expect(host).toBe(upstream);
      expect(port, upstream).toBe(portOf(host!));
    }
  });
});

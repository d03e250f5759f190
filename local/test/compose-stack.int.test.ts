/**
 * `docker compose up` without Docker: every container of docker-compose.yml that runs our code, from the image
 * Dockerfile.base builds for it (its RUN steps run here: the pruned production install, main.ts), started with
 * its compose command and environment, under the image's init (tini), in the order depends_on gives and each once
 * the one before is healthy by its compose health check; then the edge, compose/nginx/edge.conf in a real nginx.
 * Through that edge the stack must behave as embedded mode does (the same exercises), and on SIGTERM every
 * process must drain and exit 0.
 *
 * What differs from Docker: Postgres (primary and replica) and Redis are the test run's; each container's port is
 * a free port here, its service name 127.0.0.1; a volume is a folder; apt packages (tini) come from this machine.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFailed } from 'vitest';
import { createScratchDatabase, freePort, waitFor } from '@securecart/testing';
import { assembleImage, buildOf, type AssembledImage, type ComposeService, type ImageArgs, PROCESSES, readCompose, ROOT } from './containers.ts';
import { startEdgeNginx, type RunningNginx } from './nginx.ts';
import { exerciseCatalogThroughTheEdge, exerciseCheckoutThroughTheEdge, exercisePipelineThroughTheEdge } from './through-the-edge.ts';

const infra = inject('infra');
const compose = readCompose();
/** provided by the test run's infrastructure instead of containers */
const PROVIDED = new Set(['postgres', 'postgres-replica', 'redis']);
/** the variable that moves each container's listening port here */
const PORT_VARIABLE: Record<string, string> = {
  ...Object.fromEntries(Object.entries(PROCESSES).map(([name, p]) => [name, p.portVariable])),
  fauxqs: 'FAUXQS_PORT',
};

interface Running {
  name: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

let dir: string;
let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
let edge: RunningNginx | undefined;
const ports: Record<string, number> = {};
const running: Running[] = [];
const images = new Map<string, AssembledImage>();

/** Services in an order that starts each after everything it depends on. */
function startOrder(): string[] {
  const order: string[] = [];
  const visit = (name: string) => {
    if (order.includes(name)) return;
    for (const dependency of Object.keys(compose.services[name]!.depends_on ?? {})) visit(dependency);
    order.push(name);
  };
  for (const name of Object.keys(compose.services)) visit(name);
  return order.filter((name) => !PROVIDED.has(name) && name !== 'edge');
}

/** A container path under one of the service's volumes, as a folder here. */
function hostPath(service: ComposeService, value: string): string | undefined {
  for (const volume of service.volumes ?? []) {
    const [source, target] = volume.split(':');
    if (source && target && !source.startsWith('.') && (value === target || value.startsWith(`${target}/`))) {
      return path.join(dir, 'volumes', source, value.slice(target.length));
    }
  }
  return undefined;
}

/** The compose environment on this machine: service names → 127.0.0.1 and their ports here, volumes → folders. */
function localEnvironment(name: string, image: AssembledImage): Record<string, string> {
  const service = compose.services[name]!;
  const env: Record<string, string> = { ...image.env, ...(service.environment ?? {}) };
  for (const [key, value] of Object.entries(env)) {
    const folder = hostPath(service, value);
    if (folder) {
      mkdirSync(folder, { recursive: true });
      env[key] = folder;
      continue;
    }
    if (!/^[a-z]+:\/\//.test(value) || key === 'AUTH_ISSUER') continue;
    const url = new URL(value);
    if (url.hostname === 'postgres') env[key] = scratch.databaseUrl;
    else if (url.hostname === 'postgres-replica') env[key] = scratch.databaseReadUrl;
    else if (url.hostname === 'redis') env[key] = infra.redisUrl;
    else {
      const port = ports[url.hostname];
      if (port === undefined) throw new Error(`${name}: ${key}=${value} names ${url.hostname}, which has no port here`);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      env[key] = url.toString().replace(/\/$/, value.endsWith('/') ? '/' : '');
    }
  }
  const portVariable = PORT_VARIABLE[name];
  if (portVariable) env[portVariable] = String(ports[name]);
  // this run's Redis namespace, beside the other test files'
  if (name in PROCESSES && 'CACHE_NAMESPACE' in PROCESSES[name as keyof typeof PROCESSES].schema.properties) {
    env.CACHE_NAMESPACE = `${infra.namespace}:compose`;
  }
  return env;
}

/** Starts a container's process: its entrypoint and command (compose's, else the image's), in the image's /app. */
function startContainer(name: string): Running {
  const service = compose.services[name]!;
  const image = images.get(JSON.stringify(buildOf(compose, name)!.args))!;
  const entrypoint = service.entrypoint ?? image.entrypoint;
  const command = service.command ?? (service.entrypoint ? [] : image.cmd);
  // the image's node is the workspace's pinned Node, this test's own
  const argv = [...entrypoint, ...command].map((arg) => (arg === 'node' ? process.execPath : arg));
  const env = {
    ...localEnvironment(name, image),
    PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`,
    HOME: image.app,
  };
  if (!existsSync(argv[0]!)) throw new Error(`${name}: ${argv[0]} is not here (the image installs it: apt-get install -y tini, as .ci/run does)`);
  const child = spawn(argv[0]!, argv.slice(1), { cwd: image.app, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-200_000)));
  child.stderr!.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-200_000)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const proc = { name, child, output: () => output, exited };
  running.push(proc);
  return proc;
}

/** Waits as depends_on does: a one-shot job until it exits 0, anything else until its compose health check passes. */
async function waitUntilUsable(proc: Running) {
  const service = compose.services[proc.name]!;
  if (service.restart === 'no') {
    expect(await proc.exited, `${proc.name} exits 0; output:\n${proc.output()}`).toBe(0);
    return;
  }
  // the compose check itself, `CMD http-probe PORT PATH`: the image's scripts/http-probe.sh, on this container's port here
  const [kind, probe, , probePath] = service.healthcheck!.test!;
  if (kind !== 'CMD' || probe !== 'http-probe' || !probePath) throw new Error(`${proc.name}: no http-probe health check to wait on (${service.healthcheck!.test!.join(' ')})`);
  await waitFor(
    () => {
      if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited (${proc.child.exitCode}):\n${proc.output()}`);
      return spawnSync('bash', [path.join(ROOT, 'scripts/http-probe.sh'), String(ports[proc.name]), probePath], { stdio: 'ignore' }).status === 0;
    },
    { timeoutMs: 60_000, intervalMs: 200, what: `${proc.name} healthy at ${probePath}` },
  );
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'securecart-compose-'));
  // one image per distinct set of build arguments, as `docker compose build` makes them
  for (const name of Object.keys(compose.services)) {
    const build = buildOf(compose, name);
    if (!build) continue;
    const key = JSON.stringify(build.args);
    if (!images.has(key)) images.set(key, assembleImage(build.args as unknown as ImageArgs, dir, name));
  }
  // an empty database, as a first `docker compose up` finds it: the migrate job migrates and seeds it
  scratch = await createScratchDatabase(infra, 'compose');
  for (const name of [...startOrder(), 'edge']) ports[name] = await freePort();
  for (const name of startOrder()) await waitUntilUsable(startContainer(name));
  edge = await startEdgeNginx({ catalog: ports.catalog!, checkout: ports.checkout!, orders: ports.orders!, 'dev-idp': ports['dev-idp']! });
}, 300_000);

afterAll(async () => {
  await edge?.stop();
  // as `docker compose down` does: SIGTERM, then SIGKILL after a grace period. SIGKILL reaches tini only, so a
  // process whose tini was killed that way would be left running: the SIGTERM comes first.
  const left = [...running].reverse().filter((p) => p.child.exitCode === null);
  for (const proc of left) proc.child.kill('SIGTERM');
  const grace = setTimeout(() => left.forEach((p) => p.child.exitCode === null && p.child.kill('SIGKILL')), 10_000);
  await Promise.all(running.map((p) => p.exited));
  clearTimeout(grace);
  await scratch?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('docker compose up, without Docker', () => {
  it('starts every container of our code in depends_on order, each healthy by its compose health check', () => {
    expect(running.map((p) => p.name)).toEqual(startOrder());
    const migrate = running.find((p) => p.name === 'migrate')!;
    expect(migrate.output()).toMatch(/db:migrate: schema catalog is up to date[\s\S]*schema orders[\s\S]*schema fulfillment[\s\S]*schema notifications/);
    expect(migrate.output()).toContain('db:seed: inserted 240 demo products');
  });

  it('builds the services\' images without the SNS/SQS emulator, PGlite or test tools (fauxqs, vitest, testcontainers)', () => {
    const devOnly = /^(fauxqs|vitest|testcontainers|ioredis-mock|@electric-sql\+pglite|@vitest\+|@securecart\+testing)/;
    let checked = 0;
    for (const service of Object.values(compose.services)) {
      const args = service.build?.args as unknown as ImageArgs | undefined;
      if (!args?.PACKAGE_DIR.startsWith('services/')) continue;
      const packages = readdirSync(path.join(images.get(JSON.stringify(args))!.app, 'node_modules/.pnpm'));
      expect(packages.filter((p) => devOnly.test(p)), `${args.PACKAGE_DIR} ${args.ENTRY}`).toEqual([]);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  it('behaves like embedded mode through the edge on :8080: the catalog, checkout, and orders to SHIPPED with their emails in the sink volume', async () => {
    onTestFailed(() => {
      for (const proc of running) process.stderr.write(`\n----- ${proc.name} -----\n${proc.output().slice(-4_000)}\n`);
    });
    const base = edge!.base;
    await exerciseCatalogThroughTheEdge(base);
    await exerciseCheckoutThroughTheEdge(base);
    const notifications = compose.services.notifications!;
    const sink = hostPath(notifications, notifications.environment!.LOCAL_SINK_DIR!)!;
    await exercisePipelineThroughTheEdge(base, sink);
  }, 240_000);

  it('stops every long-running container on SIGTERM, through tini, with exit code 0', async () => {
    await edge!.stop();
    edge = undefined;
    const ours = running.filter((p) => p.child.exitCode === null).reverse();
    expect(ours.map((p) => p.name)).toContain('fauxqs');
    for (const proc of ours) {
      proc.child.kill('SIGTERM');
      expect(await proc.exited, `${proc.name}:\n${proc.output().slice(-2_000)}`).toBe(0);
      expect(proc.output(), proc.name).toMatch(proc.name === 'fauxqs' ? /sqs-emulator stopped/ : /shut down cleanly/);
    }
  }, 120_000);
});

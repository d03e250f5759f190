/**
 * The integration suite's infrastructure: a Postgres primary with a streaming replica, Redis, and an SNS/SQS
 * emulator out of the test process (for tests whose workers run as processes of their own).
 *
 * 1. The services named by TEST_DATABASE_URL, TEST_DATABASE_READ_URL and TEST_REDIS_URL, when they are set
 *    (`pnpm test:local`: scripts/with-local-infra.sh starts a replica of the machine's Postgres and sets them);
 *    the emulator is then a child process (local/src/sqs-emulator.ts).
 * 2. Otherwise, when a Docker engine answers, testcontainers starts all four as containers (the replica is a
 *    pg_basebackup of the primary, streaming over a container network; the emulator is this checkout's
 *    local/src/sqs-emulator.ts in the Node image the services are built on). That is what `pnpm test` and CI do.
 * 3. Otherwise the run fails and says what to provide. It never skips.
 *
 * Every run gets a fresh database (created on the primary, waited for on the replica) and a fresh Redis
 * namespace, so runs never interfere; the database is dropped at the end.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort } from './process.ts';
import { waitFor } from './wait-for.ts';

export interface Infra {
  /** a superuser URL of the fresh test database on the primary */
  databaseUrl: string;
  /** the same database on the streaming replica */
  databaseReadUrl: string;
  redisUrl: string;
  /** an SNS/SQS emulator (fauxqs) out of the test process; bootstrap the topology under a prefix of your own */
  sqsEndpoint: string;
  /** prefix for every Redis key and channel of this run */
  namespace: string;
  /** how the infrastructure was found: "testcontainers" or "environment" */
  source: 'testcontainers' | 'environment';
}

interface Started {
  primaryUrl: string;
  replicaUrl: string;
  redisUrl: string;
  sqsEndpoint: string;
  source: Infra['source'];
  stop: () => Promise<void>;
}

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const EMULATOR_ENTRY = 'local/src/sqs-emulator.ts';

/** The Node image every service image is built on: Dockerfile.base's first FROM. */
function nodeImage(): string {
  const from = /^FROM\s+(node:\S+)/m.exec(readFileSync(`${ROOT}/Dockerfile.base`, 'utf8'));
  if (!from) throw new Error('Dockerfile.base has no FROM node:… line');
  return from[1]!;
}

async function emulatorAnswers(endpoint: string): Promise<boolean> {
  return (await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined))?.ok === true;
}

/** The emulator as a child process of the test run (the environment path). */
async function startEmulatorProcess(): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [EMULATOR_ENTRY], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', FAUXQS_PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`${EMULATOR_ENTRY} exited with ${child.exitCode}`);
    return emulatorAnswers(endpoint);
  }, { timeoutMs: 20_000, intervalMs: 100, what: 'the SNS/SQS emulator process' });
  return {
    endpoint,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export const MISSING_INFRA_MESSAGE = `The integration tests need a Postgres primary with a streaming replica, and Redis.
Provide them in one of two ways:
  - a Docker engine (testcontainers starts everything), or
  - TEST_DATABASE_URL, TEST_DATABASE_READ_URL (a streaming replica of it) and TEST_REDIS_URL.
On a machine with Postgres and Redis running locally, \`pnpm test:local\` starts the replica and sets them.`;

async function dockerAvailable(): Promise<boolean> {
  if (process.env.TESTCONTAINERS_DISABLED === 'true') return false;
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function startContainers(): Promise<Started> {
  const { GenericContainer, Network, Wait } = await import('testcontainers');
  const network = await new Network().start();
  const primary = await new GenericContainer('postgres:15')
    .withNetwork(network)
    .withNetworkAliases('primary')
    .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
    .withCopyContentToContainer([
      {
        target: '/docker-entrypoint-initdb.d/replication.sh',
        content: 'echo "host replication all all trust" >> "$PGDATA/pg_hba.conf"\n',
      },
    ])
    .withCommand(['postgres', '-c', 'wal_level=replica', '-c', 'max_wal_senders=10', '-c', 'hot_standby=on'])
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  const replica = await new GenericContainer('postgres:15')
    .withNetwork(network)
    .withUser('postgres')
    .withEntrypoint(['bash', '-c'])
    .withCommand([
      'until pg_basebackup -h primary -U postgres -D /tmp/replica -X stream -R; do sleep 1; done; ' +
        'chmod 700 /tmp/replica; exec postgres -D /tmp/replica -c hot_standby=on -c listen_addresses=*',
    ])
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept read-only connections/))
    .start();
  const redis = await new GenericContainer('redis:7').withExposedPorts(6379).start();
  // this checkout's emulator entry, read-only, run by the Node the images are built on
  const emulator = await new GenericContainer(nodeImage())
    .withBindMounts([{ source: ROOT, target: '/workspace', mode: 'ro' }])
    .withWorkingDir('/workspace')
    .withUser('node')
    .withEnvironment({ FAUXQS_PORT: '4566' })
    .withCommand(['node', EMULATOR_ENTRY])
    .withExposedPorts(4566)
    .withWaitStrategy(Wait.forHttp('/health', 4566))
    .start();
  const url = (c: { getHost(): string; getMappedPort(p: number): number }, port: number) => `${c.getHost()}:${c.getMappedPort(port)}`;
  return {
    primaryUrl: `postgres://postgres@${url(primary, 5432)}/postgres`,
    replicaUrl: `postgres://postgres@${url(replica, 5432)}/postgres`,
    redisUrl: `redis://${url(redis, 6379)}`,
    sqsEndpoint: `http://${url(emulator, 4566)}`,
    source: 'testcontainers',
    stop: async () => {
      await Promise.allSettled([replica.stop(), redis.stop(), emulator.stop()]);
      await primary.stop();
      await network.stop();
    },
  };
}

async function fromEnvironment(): Promise<Started | undefined> {
  const primaryUrl = process.env.TEST_DATABASE_URL;
  const replicaUrl = process.env.TEST_DATABASE_READ_URL;
  const redisUrl = process.env.TEST_REDIS_URL;
  if (!primaryUrl && !replicaUrl && !redisUrl) return undefined;
  const missing = [
    ['TEST_DATABASE_URL', primaryUrl],
    ['TEST_DATABASE_READ_URL', replicaUrl],
    ['TEST_REDIS_URL', redisUrl],
  ]
    .filter(([, v]) => !v)
    .map(([k]) => k);
  if (missing.length > 0) throw new Error(`Set ${missing.join(' and ')} too.\n\n${MISSING_INFRA_MESSAGE}`);
  const emulator = await startEmulatorProcess();
  return { primaryUrl: primaryUrl!, replicaUrl: replicaUrl!, redisUrl: redisUrl!, sqsEndpoint: emulator.endpoint, source: 'environment', stop: emulator.stop };
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function query(url: string, text: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

/** Creates a database on the primary and waits until the replica has it too. */
async function createReplicatedDatabase(primaryUrl: string, replicaUrl: string, database: string): Promise<void> {
  await query(primaryUrl, `create database ${database}`);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const seen = await query(replicaUrl, 'select 1 from pg_database where datname = $1', [database]);
    if (seen.rowCount === 1) return;
    if (Date.now() > deadline) throw new Error(`the replica did not receive database ${database} within 30 s: is it streaming?`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Another fresh database beside the run's, for a test that needs an empty one (e.g. a first start that seeds).
 * Returns its URLs on the primary and the replica, and a function that drops it.
 */
export async function createScratchDatabase(infra: Infra, label: string) {
  const database = `${new URL(infra.databaseUrl).pathname.slice(1)}_${label.replace(/[^a-z0-9_]/g, '_')}`;
  const server = (url: string) => withDatabase(url, 'postgres');
  await createReplicatedDatabase(server(infra.databaseUrl), server(infra.databaseReadUrl), database);
  return {
    databaseUrl: withDatabase(infra.databaseUrl, database),
    databaseReadUrl: withDatabase(infra.databaseReadUrl, database),
    drop: () => query(server(infra.databaseUrl), `drop database if exists ${database} with (force)`).then(() => undefined),
  };
}

export async function setUpInfra(): Promise<{ infra: Infra; tearDown: () => Promise<void> }> {
  const started = (await fromEnvironment()) ?? ((await dockerAvailable()) ? await startContainers() : undefined);
  if (!started) throw new Error(MISSING_INFRA_MESSAGE);

  const recovery = await query(started.replicaUrl, 'select pg_is_in_recovery() as r');
  if (recovery.rows[0]?.r !== true) {
    throw new Error(`TEST_DATABASE_READ_URL does not point at a streaming replica (pg_is_in_recovery() is false).\n\n${MISSING_INFRA_MESSAGE}`);
  }

  const database = `securecart_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  await createReplicatedDatabase(started.primaryUrl, started.replicaUrl, database);
  const infra: Infra = {
    databaseUrl: withDatabase(started.primaryUrl, database),
    databaseReadUrl: withDatabase(started.replicaUrl, database),
    redisUrl: started.redisUrl,
    sqsEndpoint: started.sqsEndpoint,
    namespace: `test:${database}`,
    source: started.source,
  };
  return {
    infra,
    tearDown: async () => {
      await query(started.primaryUrl, `drop database if exists ${database} with (force)`).catch(() => undefined);
      await started.stop();
    },
  };
}

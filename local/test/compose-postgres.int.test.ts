/**
 * compose/postgres's scripts make a streaming replica, run here with this machine's PostgreSQL binaries as the
 * official postgres image runs them: primary-init.sh while the freshly initialised primary listens on its Unix
 * socket only, then replica-entrypoint.sh on an empty data directory, handing over to a stand-in for the image's
 * docker-entrypoint.sh (which, for an initialised data directory, runs its arguments). Like scripts/pg-replica.sh
 * this needs the PostgreSQL server binaries and root (or the postgres user).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '@securecart/testing';
import { readCompose, ROOT } from './containers.ts';

const compose = readCompose();
const replication = {
  REPLICATION_USER: compose.services.postgres!.environment!.REPLICATION_USER!,
  REPLICATION_PASSWORD: compose.services.postgres!.environment!.REPLICATION_PASSWORD!,
  REPLICATION_SLOT: compose.services.postgres!.environment!.REPLICATION_SLOT!,
};
const PASSWORD = 'compose-test';

function pgBin(): string {
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b)) : [];
  const bin = process.env.PG_BIN ?? (versions.length ? `/usr/lib/postgresql/${versions.at(-1)}/bin` : '');
  if (!existsSync(path.join(bin, 'pg_ctl'))) throw new Error('the PostgreSQL server binaries were not found (set PG_BIN, e.g. /usr/lib/postgresql/15/bin)');
  return bin;
}

/** argv run as the postgres user, with exactly this environment. */
function asPostgres(argv: string[], env: Record<string, string>): string[] {
  const withEnv = ['env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv];
  if (process.getuid?.() === 0) return ['runuser', '-u', 'postgres', '--', ...withEnv];
  if (process.env.USER === 'postgres') return withEnv;
  throw new Error('compose/postgres is tested as the postgres user: run the tests as root or as postgres (as scripts/pg-replica.sh needs)');
}

function runAsPostgres(argv: string[], env: Record<string, string>, what: string): string {
  const [command, ...args] = asPostgres(argv, env);
  const result = spawnSync(command!, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${what} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout + result.stderr;
}

let dir: string;
let bin: string;
let primaryPort: number;
let replicaPort: number;
let baseEnv: Record<string, string>;
let replica: { child: ChildProcess; output: () => string } | undefined;
const primaryData = () => path.join(dir, 'primary');
const replicaData = () => path.join(dir, 'replica');
const socketDir = () => path.join(dir, 'sockets');
const url = (port: number, user = 'postgres', password = PASSWORD) => `postgres://${user}:${password}@127.0.0.1:${port}/securecart`;

async function query(connectionString: string, text: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

/** replica-entrypoint.sh as the replica container runs it; the stand-in entrypoint runs postgres in the foreground. */
function startReplica() {
  const argv = [path.join(ROOT, 'compose/postgres/replica-entrypoint.sh'), '-c', `port=${replicaPort}`, '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${socketDir()}`];
  const env = { ...baseEnv, ...replication, PGDATA: replicaData(), PRIMARY_HOST: '127.0.0.1', PRIMARY_PORT: String(primaryPort) };
  const [command, ...args] = asPostgres(argv, env);
  const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  replica = { child, output: () => output };
  return replica;
}

async function stopReplica() {
  if (!replica || replica.child.exitCode !== null) return;
  const exited = new Promise((resolve) => replica!.child.on('exit', resolve));
  // the postmaster runs under runuser, which does not pass signals on: pg_ctl stops it (fast: no waiting for clients)
  runAsPostgres(['pg_ctl', '-D', replicaData(), '-w', '-m', 'fast', 'stop'], baseEnv, 'stopping the replica');
  await exited;
}

beforeAll(async () => {
  bin = pgBin();
  dir = mkdtempSync(path.join(tmpdir(), 'securecart-compose-pg-'));
  mkdirSync(socketDir());
  if (process.getuid?.() === 0) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    for (const d of [dir, socketDir()]) chownSync(d, uid, gid);
  }
  primaryPort = await freePort();
  replicaPort = await freePort();
  // the stand-in for the image's docker-entrypoint.sh: the data directory is initialised, so it runs its arguments
  const stubs = path.join(dir, 'bin');
  mkdirSync(stubs);
  writeFileSync(path.join(stubs, 'docker-entrypoint.sh'), '#!/bin/sh\nexec "$@"\n');
  chmodSync(path.join(stubs, 'docker-entrypoint.sh'), 0o755);
  chmodSync(stubs, 0o755);
  baseEnv = { PATH: `${stubs}:${bin}:/usr/bin:/bin`, HOME: dir, LANG: 'C.UTF-8' };

  // what the official image does before and around /docker-entrypoint-initdb.d
  writeFileSync(path.join(dir, 'pwfile'), `${PASSWORD}\n`, { mode: 0o644 });
  runAsPostgres(['initdb', '-D', primaryData(), '-U', 'postgres', `--pwfile=${path.join(dir, 'pwfile')}`, '--auth-local=trust', '--auth-host=scram-sha-256'], baseEnv, 'initdb');
  const socketOnly = ['-o', `-c listen_addresses='' -c unix_socket_directories=${socketDir()} -p ${primaryPort}`];
  // -l: a server writing to our pipes would keep spawnSync waiting for as long as it runs
  runAsPostgres(['pg_ctl', '-D', primaryData(), '-w', '-l', path.join(dir, 'init.log'), ...socketOnly, 'start'], baseEnv, 'the primary (socket only)');
  const initEnv = { ...baseEnv, ...replication, PGDATA: primaryData(), POSTGRES_USER: 'postgres', POSTGRES_DB: 'securecart', PGHOST: socketDir(), PGPORT: String(primaryPort) };
  runAsPostgres(['psql', '-v', 'ON_ERROR_STOP=1', '-d', 'postgres', '-c', 'create database securecart'], initEnv, 'create database');
  const init = runAsPostgres([path.join(ROOT, 'compose/postgres/primary-init.sh')], initEnv, 'primary-init.sh');
  expect(init).toContain(`role ${replication.REPLICATION_USER} and slot ${replication.REPLICATION_SLOT} ready`);
  runAsPostgres(['pg_ctl', '-D', primaryData(), '-w', '-m', 'fast', 'stop'], baseEnv, 'stopping the primary');
  // the primary as docker-compose.yml starts it
  const command = compose.services.postgres!.command!.slice(1).join(' ');
  runAsPostgres(['pg_ctl', '-D', primaryData(), '-w', '-l', path.join(dir, 'primary.log'), '-o', `${command} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${socketDir()} -p ${primaryPort}`, 'start'], baseEnv, 'the primary');
}, 60_000);

afterAll(async () => {
  await stopReplica();
  if (dir && existsSync(path.join(primaryData(), 'postmaster.pid'))) {
    runAsPostgres(['pg_ctl', '-D', primaryData(), '-w', '-m', 'immediate', 'stop'], baseEnv, 'stopping the primary');
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('compose/postgres', () => {
  it('makes an empty replica a streaming copy of the primary, through the replication slot, with the replication role’s password', async () => {
    const { output } = startReplica();
    await waitFor(async () => (await query(url(replicaPort), 'select pg_is_in_recovery() as r').catch(() => []))[0], { timeoutMs: 30_000, what: `the replica to accept connections; output:\n${output()}` });
    expect(output()).toContain('replica: cloning');
    expect(await query(url(replicaPort), 'select pg_is_in_recovery() as r')).toEqual([{ r: true }]);
    const autoConf = readFileSync(path.join(replicaData(), 'postgresql.auto.conf'), 'utf8');
    expect(autoConf).toMatch(new RegExp(`primary_conninfo = '.*user=${replication.REPLICATION_USER}`));
    expect(autoConf).toContain(`primary_slot_name = '${replication.REPLICATION_SLOT}'`);
    expect(existsSync(path.join(replicaData(), 'standby.signal'))).toBe(true);

    await query(url(primaryPort), 'create table replicated (id int primary key); insert into replicated values (1)');
    await waitFor(async () => ((await query(url(replicaPort), 'select count(*)::int as n from replicated').catch(() => [])) as { n: number }[])[0]?.n === 1, {
      timeoutMs: 10_000,
      what: 'the row on the replica',
    });
    const slots = (await query(url(primaryPort), `select slot_name, active from pg_replication_slots`)) as { slot_name: string; active: boolean }[];
    expect(slots).toEqual([{ slot_name: replication.REPLICATION_SLOT, active: true }]);
    await expect(query(url(primaryPort, replication.REPLICATION_USER, 'wrong'), 'select 1')).rejects.toThrow();
  });

  it('restarts on its existing data directory without cloning again, and catches up', async () => {
    await stopReplica();
    await query(url(primaryPort), 'insert into replicated values (2)');
    const { output } = startReplica();
    await waitFor(async () => ((await query(url(replicaPort), 'select count(*)::int as n from replicated').catch(() => [])) as { n: number }[])[0]?.n === 2, {
      timeoutMs: 30_000,
      what: `the replica to catch up; output:\n${output()}`,
    });
    expect(output()).not.toContain('replica: cloning');
  });
});

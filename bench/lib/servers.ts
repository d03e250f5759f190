/**
 * A Postgres server and a Redis server of the benchmark's own, on free ports, that it may stop and start again
 * (the machine's own servers on 5432 and 6379 serve other work and are never touched). Postgres is a fresh
 * `initdb` cluster run as the postgres user, as scripts/pg-replica.sh runs its replica; Redis keeps nothing on disk,
 * so a stopped Redis comes back empty, as a cache node that was replaced does. Both are stopped at clean-up; their
 * logs go to the given folder.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, openSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, onCleanUp } from './harness.ts';

const run = promisify(execFile);

/** The newest PostgreSQL server binaries of the machine, or PG_BIN. */
function postgresBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)) : [];
  const newest = versions.sort((a, b) => Number(a) - Number(b)).at(-1);
  if (!newest) throw new Error('no PostgreSQL server binaries in /usr/lib/postgresql: set PG_BIN');
  return `/usr/lib/postgresql/${newest}/bin`;
}

/** Runs a PostgreSQL binary as the postgres user (the server refuses to run as root). */
function asPostgres(bin: string, args: string[]) {
  const command = path.join(postgresBin(), bin);
  return process.getuid?.() === 0 ? run('runuser', ['-u', 'postgres', '--', command, ...args]) : run(command, args);
}

export interface PostgresServer {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  /** `pg_ctl stop`: `fast` is an operator's stop (sessions ended, a checkpoint); `immediate` is a crash (recovery at start) */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  /** `pg_ctl start`, waiting until it accepts connections */
  start(): Promise<void>;
}

/** initdb into `dir/pgdata`, then start it on a free port; its log is `logDir/postgres.log` (both folders are made
 * readable by the postgres user). */
export async function startPostgres(dir: string, logDir: string): Promise<PostgresServer> {
  const data = path.join(dir, 'pgdata');
  const log = path.join(logDir, 'postgres.log');
  for (const folder of [dir, logDir]) await chmod(folder, 0o755);
  await mkdir(data, { mode: 0o700 });
  await writeFile(log, '');
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: group } = await run('id', ['-g', 'postgres']);
    for (const owned of [data, log]) await chown(owned, Number(stdout), Number(group));
  }
  await asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const port = await freePort();
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp -c max_connections=200`;
  let running = false;
  const server: PostgresServer = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await asPostgres('pg_ctl', ['-D', data, '-o', options, '-l', log, '-w', '-t', '60', 'start']);
      running = true;
    },
    async stop(mode) {
      running = false;
      await asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']);
    },
  };
  onCleanUp(async () => {
    if (running || existsSync(path.join(data, 'postmaster.pid'))) await server.stop('immediate');
  });
  await server.start();
  return server;
}

export interface RedisServer {
  /** redis://127.0.0.1:<port> */
  url: string;
  /** SIGTERM: with nothing to save, Redis exits at once and its data is gone */
  stop(): Promise<void>;
  /** a new redis-server on the same port, answering PING */
  start(): Promise<void>;
}

/** redis-server on a free port, keeping nothing on disk; its log is `logDir/redis.log`. */
export async function startRedis(logDir: string): Promise<RedisServer> {
  const port = await freePort();
  const log = path.join(logDir, 'redis.log');
  let child: ChildProcess | undefined;
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      const out = openSync(log, 'a');
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
        stdio: ['ignore', out, out],
      });
      closeSync(out); // the child has its own copy
      const deadline = Date.now() + 10_000;
      while (!(await run('redis-cli', ['-p', String(port), 'ping']).then((r) => r.stdout.trim() === 'PONG', () => false))) {
        if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}: see ${log}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      const stopping = child;
      child = undefined;
      if (!stopping || stopping.exitCode !== null || stopping.signalCode !== null) return;
      const exited = once(stopping, 'exit');
      stopping.kill('SIGTERM');
      await exited;
    },
  };
  onCleanUp(() => server.stop());
  await server.start();
  return server;
}

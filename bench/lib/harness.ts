/**
 * What every benchmark here needs: cleanups that run once whatever happens, the TEST_* variables, one-off queries,
 * free ports, and services started as child processes in their own process group (node_modules/.bin/node is a
 * shell script that runs node without exec, so a signal must go to the group) that are stopped at the end.
 * Progress and the servers' output go to stderr (or each server's output to a file of its own); stdout is kept for
 * the report.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { drizzle } from 'drizzle-orm/node-postgres';
import { catalogMigrations, seedDemoCatalog } from '@securecart/catalog';
import { createPool, migrateWithUrl } from '@securecart/db';
import { withDatabase } from '@securecart/testing';

export const ROOT = path.resolve(import.meta.dirname, '../..');
const NODE = path.join(ROOT, 'node_modules/.bin/node');

const cleanups: (() => Promise<unknown>)[] = [];
let cleaningUp: Promise<void> | undefined;

export function onCleanUp(fn: () => Promise<unknown>): void {
  cleanups.push(fn);
}

/** Runs the registered cleanups once, newest first, whatever fails. */
export function cleanUp(): Promise<void> {
  cleaningUp ??= (async () => {
    for (const fn of cleanups.reverse()) await fn().catch((error: unknown) => console.error('cleanup failed:', error));
  })();
  return cleaningUp;
}

/** Runs a benchmark's main: cleans up on success, failure and SIGINT/SIGTERM; exit code 1 on failure. */
export async function runBenchmark(main: () => Promise<void>): Promise<void> {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void cleanUp().finally(() => process.exit(130)));
  }
  try {
    await main();
  } catch (error) {
    console.error('benchmark failed:', error);
    process.exitCode = 1;
  } finally {
    await cleanUp();
  }
}

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the benchmark through its pnpm script (scripts/with-local-infra.sh sets it)`);
  return value;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function query(url: string, text: string, values: unknown[] = []): Promise<any[]> {
  const pool = createPool(url, { name: 'bench', max: 1 });
  return pool.query(text, values).then((r) => r.rows).finally(() => pool.end());
}

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface Child {
  process: ChildProcess;
  /** SIGTERM to the group, SIGKILL after 10 s; resolves when node has exited. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL to the group at once (a crash); resolves when node has exited. */
  kill(): Promise<void>;
}

export interface ProcessOptions {
  /** append the process's stdout and stderr to this file instead of the benchmark's stderr */
  logFile?: string;
}

export function startProcess(script: string, env: Record<string, string>, options: ProcessOptions = {}): Child {
  // BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") go to every service's node: for profiling a run.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const stderr = options.logFile ? 'pipe' : 'inherit';
  const child = spawn(NODE, [...nodeArgs, path.join(ROOT, script)], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', stderr], detached: true });
  const closed = once(child, 'close'); // stdout closes when node itself has exited, not just the shell
  if (options.logFile) {
    const log = createWriteStream(options.logFile, { flags: 'a' });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    const end = () => log.end();
    void closed.then(end, end);
  } else {
    child.stdout!.pipe(process.stderr);
  }
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // the group is gone already
    }
  };
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), 10_000);
      await closed.finally(() => clearTimeout(timer));
    })();
    return stopping;
  };
  const kill = async () => {
    signalGroup('SIGKILL');
    await closed;
  };
  cleanups.push(stop);
  return { process: child, stop, kill };
}

export const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** Polls `ready` until it is true; fails at once if the process exits, and after 30 s. */
export async function waitUntil(child: ChildProcess, what: string, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited(child)) throw new Error(`the process exited (${child.exitCode ?? child.signalCode}) before ${what}`);
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export const answers200 = (url: string) => () => fetch(url, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok);

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** A fresh database on the primary, migrated for catalog and seeded with the demo catalog; dropped at clean-up. */
export async function createBenchDatabase(primaryUrl: string): Promise<{ name: string; url: string }> {
  const name = `securecart_bench_${randomBytes(4).toString('hex')}`;
  await query(primaryUrl, `create database ${name}`);
  onCleanUp(() => query(primaryUrl, `drop database if exists ${name} with (force)`));
  const url = withDatabase(primaryUrl, name);
  await migrateWithUrl(url, catalogMigrations);
  const pool = createPool(url, { name: 'bench-seed' });
  await seedDemoCatalog(drizzle(pool)).finally(() => pool.end());
  return { name, url };
}

/**
 * Runs compose mode's edge configuration (compose/nginx/edge.conf) in a real nginx, outside a container: the file
 * as it is, with its upstream servers and its listen port pointed at this machine, inside a minimal main
 * configuration (the nginx image's own nginx.conf plays that part in compose). nginx is a Debian package; when it
 * is missing the tests fail and say how to install it.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, waitFor } from '@securecart/testing';
import { ROOT } from './containers.ts';

export const EDGE_CONF = path.join(ROOT, 'compose/nginx/edge.conf');

export function nginxBinary(): string {
  const candidates = [process.env.NGINX_BIN, '/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx'].filter((c): c is string => Boolean(c));
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    throw new Error('These tests run the edge configuration in a real nginx, and none was found: `apt-get install -y nginx` (Debian), as .ci/run does, or set NGINX_BIN');
  }
  return found;
}

export interface RunningNginx {
  base: string;
  port: number;
  output(): string;
  stop(): Promise<void>;
}

/** edge.conf with each `server <upstream>:<port>;` sent to 127.0.0.1 on the port given for that upstream. */
export function localEdgeConf(upstreams: Record<string, number>, listenPort: number): string {
  const conf = readFileSync(EDGE_CONF, 'utf8');
  const named = new Set<string>();
  const local = conf
    .replace(/(upstream\s+([\w-]+)\s*\{\s*server\s+)[\w-]+:\d+;/g, (_match, head: string, upstream: string) => {
      const port = upstreams[upstream];
      if (port === undefined) throw new Error(`no local port for the edge's upstream ${upstream}`);
      named.add(upstream);
      return `${head}127.0.0.1:${port};`;
    })
    .replace(/^(\s*)listen 8080;/m, `$1listen 127.0.0.1:${listenPort};`);
  const unknown = Object.keys(upstreams).filter((u) => !named.has(u));
  if (unknown.length > 0) throw new Error(`edge.conf has no upstream ${unknown.join(', ')}`);
  return local;
}

export async function startEdgeNginx(upstreams: Record<string, number>): Promise<RunningNginx> {
  const binary = nginxBinary();
  const dir = mkdtempSync(path.join(tmpdir(), 'securecart-edge-'));
  const port = await freePort();
  writeFileSync(path.join(dir, 'edge.conf'), localEdgeConf(upstreams, port));
  const temp = (name: string) => `${name}_temp_path ${path.join(dir, name)};`;
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${path.join(dir, 'nginx.pid')};`,
      // as root, workers would run as nobody, who cannot write this folder's temp paths
      ...(process.getuid?.() === 0 ? ['user root;'] : []),
      'events { worker_connections 512; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${temp(t)}`),
      `  include ${path.join(dir, 'edge.conf')};`,
      '}',
      '',
    ].join('\n'),
  );
  const child = spawn(binary, ['-e', 'stderr', '-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${output}`);
        return (await fetch(`${base}/`).catch(() => undefined))?.status === 404;
      },
      { timeoutMs: 10_000, what: 'nginx to listen' },
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    base,
    port,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

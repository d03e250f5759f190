/**
 * The catalog as a real process: graceful shutdown on SIGTERM, tracing when configured, and refusal to start on bad
 * configuration.
 */
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, startOtlpReceiver, startProcess, startTestIdentityProvider, waitFor, type TestIdentityProvider } from '@securecart/testing';
import { newProduct } from './harness.ts';

const infra = inject('infra');
const serverScript = fileURLToPath(new URL('../src/server.ts', import.meta.url));
const cwd = fileURLToPath(new URL('../../..', import.meta.url));
let idp: TestIdentityProvider;

beforeAll(async () => {
  idp = await startTestIdentityProvider();
});
afterAll(async () => idp?.close());

function env(port: number): Record<string, string> {
  return {
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    DATABASE_URL: infra.databaseUrl,
    DATABASE_READ_URL: infra.databaseReadUrl,
    REDIS_URL: infra.redisUrl,
    CACHE_NAMESPACE: `${infra.namespace}:proc`,
    AUTH_JWKS_URL: idp.jwksUrl,
    AUTH_ISSUER: idp.issuer,
    AUTH_AUDIENCE: idp.audience,
  };
}

describe('the catalog process', () => {
  it('finishes an in-flight request after SIGTERM, refuses new work, and exits 0', async () => {
    const port = await freePort();
    const proc = startProcess(serverScript, env(port), cwd);
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health/ready`)).status === 200, { timeoutMs: 20_000, what: 'the server to be ready' });
      const token = await idp.token('admin-1', { admin: true });
      const body = JSON.stringify(newProduct());

      // Start a request and send only half of its body: it is in flight when the signal arrives.
      const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port, method: 'POST', path: '/api/catalog/products', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          },
        );
        req.on('error', reject);
        req.write(body.slice(0, 20));
        setTimeout(() => {
          proc.kill('SIGTERM');
          setTimeout(() => req.end(body.slice(20)), 300);
        }, 100);
      });

      await proc.waitForOutput(/shutting down/);
      // New connections are refused while the in-flight request drains.
      await expect(fetch(`http://127.0.0.1:${port}/health/live`)).rejects.toThrow();
      const result = await response;
      expect(result.status, result.body).toBe(201);
      expect(await proc.exited).toBe(0);
      expect(proc.output()).toMatch(/shut down cleanly/);
    } finally {
      proc.kill('SIGKILL');
    }
  });

  it('relays its outbox to catalog-events and reports it on /metrics, dead events included', async () => {
    const port = await freePort();
    const proc = startProcess(serverScript, { ...env(port), AWS_ENDPOINT_URL: infra.sqsEndpoint, MESSAGING_PREFIX: `c${port}-`, OUTBOX_POLL_MS: '100' }, cwd);
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health/ready`)).status === 200, { timeoutMs: 20_000, what: 'the server to be ready' });
      const token = await idp.token('admin-1', { admin: true });
      const created = await fetch(`http://127.0.0.1:${port}/api/catalog/products`, {
        method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(newProduct()),
      });
      expect(created.status).toBe(201);
      const metric = async (pattern: RegExp) => Number(pattern.exec(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())?.[1]);
      await waitFor(async () => (await metric(/^outbox_events\{[^}]*outcome="published"[^}]*\} (\d+)$/m)) >= 1, { timeoutMs: 10_000, what: 'product.created to be relayed' });
      expect(await metric(/^outbox_dead_events(?:\{[^}]*\})? (\d+)$/m)).toBe(0);
    } finally {
      proc.kill('SIGKILL');
    }
  });

  it('with OTEL_EXPORTER_OTLP_ENDPOINT sends its request spans to the collector, the last ones flushed on SIGTERM', async () => {
    const collector = await startOtlpReceiver();
    const port = await freePort();
    const proc = startProcess(serverScript, { ...env(port), OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint }, cwd);
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health/live`)).status === 200, { timeoutMs: 20_000, what: 'the server to be live' });
      // The batch processor exports every 5 s: a span still in it when the signal comes must be flushed by the shutdown.
      proc.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      const span = collector.spans.find((s) => s.name === 'GET /health/live');
      expect(span, collector.spans.map((s) => s.name).join(', ')).toMatchObject({ service: 'catalog', kind: 'server', attributes: { 'http.response.status_code': 200 } });
    } finally {
      proc.kill('SIGKILL');
      await collector.close();
    }
  });

  it('refuses to start on a bad configuration value, naming the variable and the reason', async () => {
    const proc = startProcess(serverScript, { ...env(1), PORT: 'eighty', DATABASE_URL: 'mysql://nope', REPLICA_MAX_LAG_MS: '-5' }, cwd);
    expect(await proc.exited).toBe(1);
    const output = proc.output();
    expect(output).toContain('Invalid configuration');
    expect(output).toContain('PORT must be integer (got "eighty")');
    expect(output).toContain('DATABASE_URL must be a URL starting with postgres:// or postgresql://');
    expect(output).toContain('REPLICA_MAX_LAG_MS must be >= 1');
    expect(output).not.toMatch(/at .*\.ts:\d+/); // a message, not a stack trace
  });

  it('refuses to start in production without Redis', async () => {
    const { REDIS_URL: _omit, ...rest } = env(1);
    const proc = startProcess(serverScript, { ...rest, NODE_ENV: 'production' }, cwd);
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain('REDIS_URL is required when NODE_ENV=production');
  });
});

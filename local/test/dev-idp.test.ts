/**
 * The development identity provider's own process (compose mode): it mints tokens that a service's verifier
 * accepts through the JWKS it serves, answers its container's health checks, refuses a bad body with a problem,
 * and refuses to exist under NODE_ENV=production.
 */
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwksVerifier } from '@securecart/http-kit';
import { startProcess } from '@securecart/testing';
import { loadDevIdpConfig } from '../src/config.ts';
import { buildDevIdpServer } from '../src/dev-idp.ts';

const silent = pino({ level: 'silent' });
let app: Awaited<ReturnType<typeof buildDevIdpServer>>;
let base: string;

beforeAll(async () => {
  app = await buildDevIdpServer(loadDevIdpConfig({ AUTH_ISSUER: 'http://localhost:8080', AUTH_AUDIENCE: 'securecart' }), { logger: silent });
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await app?.close();
});

describe('the dev-idp process', () => {
  it('mints a token that verifies against the JWKS it serves, with the issuer, audience and groups the services check', async () => {
    const res = await fetch(`${base}/api/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'alice', groups: ['admin'], email: 'alice@example.com' }),
    });
    expect(res.status).toBe(200);
    const { accessToken, expiresIn } = (await res.json()) as { accessToken: string; expiresIn: number };
    expect(expiresIn).toBe(3600);
    const verifier = createJwksVerifier({ jwksUrl: `${base}/.well-known/jwks.json`, issuer: 'http://localhost:8080', audience: 'securecart' });
    await expect(verifier.verify(accessToken)).resolves.toMatchObject({ sub: 'alice', isAdmin: true });
    const other = createJwksVerifier({ jwksUrl: `${base}/.well-known/jwks.json`, issuer: 'http://localhost:8080', audience: 'elsewhere' });
    await expect(other.verify(accessToken)).rejects.toMatchObject({ status: 401 });
  });

  it('answers its health checks', async () => {
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
  });

  it('refuses a token request with unknown fields as a 400 problem', async () => {
    const res = await fetch(`${base}/api/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sub: 'x', role: 'root' }) });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('refuses a token request whose values would need coercion ("sub": 5), as the services refuse theirs', async () => {
    const res = await fetch(`${base}/api/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sub: 5 }) });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('refuses to start with NODE_ENV=production, saying why', async () => {
    const script = fileURLToPath(new URL('../src/dev-idp.ts', import.meta.url));
    const proc = startProcess(script, { NODE_ENV: 'production', PORT: '0' }, fileURLToPath(new URL('../..', import.meta.url)));
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain('dev-idp: could not start: The development identity provider refuses to start with NODE_ENV=production');
  });
});

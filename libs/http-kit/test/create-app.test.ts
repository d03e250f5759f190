/**
 * What every service's app does with input that no schema describes: found by the hostile-input sweep
 * (local/test/hostile-input.int.test.ts), each was a 500 or an answer that was not a problem.
 */
import { once } from 'node:events';
import net from 'node:net';
import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp, type App } from '../src/index.ts';

let app: App;

/** An app with every default, no tokens accepted and a limit no test reaches. */
const testApp = (options: Partial<Parameters<typeof createHttpApp>[0]> = {}) =>
  createHttpApp({
    service: 'test',
    logger: false,
    verifier: { verify: async () => Promise.reject(new Error('no tokens in this test')) },
    readiness: {},
    rateLimit: { max: 1_000, windowMs: 60_000 },
    docs: { title: 'test', version: '0', description: 'test' },
    ...options,
  });

beforeAll(async () => {
  app = await testApp();
  app.delete('/things', async () => ({ deleted: true }));
  app.get('/ip', async (request) => ({ ip: request.ip }));
  app.post(
    '/things/:id',
    {
      schema: {
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        body: Type.Object({ name: Type.String(), tags: Type.Optional(Type.Array(Type.String())) }, { additionalProperties: false }),
      },
    },
    async (request) => request.body,
  );
  await app.ready();
});
afterAll(async () => {
  await app.close();
});

const ID = '0190a0b0-0000-7000-8000-000000000001';
const post = (url: string, payload: string) => app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload });

describe('hostile input no schema describes', () => {
  it('refuses a body string with U+0000, which Postgres cannot store, as a 400 naming the field', async () => {
    const res = await post(`/things/${ID}`, '{"name":"a\\u0000b"}');
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ type: 'https://securecart.dev/problems/validation', status: 400, errors: [{ in: 'body', path: '/name' }] });
  });

  it('refuses an unpaired surrogate anywhere in the body, however deep', async () => {
    const res = await post(`/things/${ID}`, '{"name":"ok","tags":["fine","x\\udfff"]}');
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([{ in: 'body', path: '/tags/1', message: expect.stringMatching(/unpaired surrogate/) }]);
    const deep = `{"name":"ok","tags":${'['.repeat(20_000)}"\\ud800"${']'.repeat(20_000)}}`;
    expect((await post(`/things/${ID}`, deep)).statusCode).toBe(400);
  });

  it('takes a surrogate pair (an emoji) and right-to-left text as they are', async () => {
    const res = await post(`/things/${ID}`, JSON.stringify({ name: '😀 \u202eevil' }));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ name: '😀 \u202eevil' });
  });

  it('refuses a urn:uuid: id, which ajv-formats takes and Postgres does not', async () => {
    const res = await post(`/things/urn:uuid:${ID}`, '{"name":"x"}');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ status: 400, errors: [{ in: 'params', path: '/id' }] });
  });

  it('answers a body that is not JSON with 415, also on a route that takes no body', async () => {
    for (const contentType of ['text/plain', 'application/xml']) {
      const res = await app.inject({ method: 'DELETE', url: '/things', headers: { 'content-type': contentType }, payload: '{}' });
      expect(res.statusCode).toBe(415);
      expect(res.json()).toMatchObject({ type: 'https://securecart.dev/problems/unsupported-media-type', status: 415 });
    }
    expect((await app.inject({ method: 'DELETE', url: '/things' })).statusCode).toBe(200);
  });

  it('answers a malformed percent-encoding and an over-long path parameter with problems', async () => {
    for (const [url, status] of [['/things/%zz', 400], [`/things/${'a'.repeat(201)}`, 414]] as const) {
      const res = await post(url, '{"name":"x"}');
      expect(res.statusCode).toBe(status);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json()).toMatchObject({ status, title: expect.any(String) });
    }
  });
});

describe('the client address behind the proxy (request.ip, which the per-address rate limit keys on)', () => {
  const ipOf = async (remoteAddress: string, forwardedFor?: string, target = app) =>
    (await target.inject({ url: '/ip', remoteAddress, headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor } })).json().ip as string;

  it('is the entry the proxy appended, not one the client wrote before it', async () => {
    expect(await ipOf('10.0.3.7', '203.0.113.9')).toBe('203.0.113.9');
    expect(await ipOf('10.0.3.7', '6.6.6.6, 203.0.113.9')).toBe('203.0.113.9');
    expect(await ipOf('127.0.0.1', '1.1.1.1, 2.2.2.2, 198.51.100.4')).toBe('198.51.100.4');
    expect(await ipOf('::ffff:172.18.0.5', '198.51.100.4')).toBe('198.51.100.4'); // nginx on a Docker network
    expect(await ipOf('10.0.3.7')).toBe('10.0.3.7'); // no header: the peer itself
  });

  it('is the peer itself when the peer is not on a private network: a direct client cannot pick its address', async () => {
    expect(await ipOf('198.51.100.20', '203.0.113.9')).toBe('198.51.100.20');
    expect(await ipOf('2001:db8::1', '203.0.113.9')).toBe('2001:db8::1');
  });

  it('goes one proxy further back per extra hop (CloudFront before the ALB: 2)', async () => {
    const twoHops = await testApp({ trustedProxyHops: 2 });
    twoHops.get('/ip', async (request) => ({ ip: request.ip }));
    try {
      // the client's own entry, the client's address as CloudFront saw it, CloudFront's address as the ALB saw it
      expect(await ipOf('10.0.3.7', '6.6.6.6, 203.0.113.9, 130.176.0.1', twoHops)).toBe('203.0.113.9');
    } finally {
      await twoHops.close();
    }
  });
});

describe('what Node refuses before any route', () => {
  /** Sends raw bytes to the app on a real socket and reads the whole answer (the server closes the connection). */
  const raw = async (bytes: string) => {
    const served = await testApp();
    const address = await served.listen({ port: 0, host: '127.0.0.1' });
    try {
      const { port } = new URL(address);
      const socket = net.connect(Number(port), '127.0.0.1');
      socket.on('error', () => undefined); // the server may reset after answering
      let answer = '';
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
      socket.write(bytes);
      await once(socket, 'close');
      const [head = '', body = ''] = answer.split('\r\n\r\n');
      return { statusLine: head.split('\r\n')[0], head, body };
    } finally {
      await served.close();
    }
  };

  it('answers request headers over 16 KiB with a 431 problem', async () => {
    const res = await raw(`GET /ip HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(res.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(res.head).toMatch(/content-type: application\/problem\+json/i);
    expect(JSON.parse(res.body)).toMatchObject({ status: 431, type: 'https://securecart.dev/problems/headers-too-large', title: 'Request headers too large' });
  });

  it('answers a malformed request line with a 400 problem', async () => {
    const res = await raw('THIS IS NOT HTTP\r\n\r\n');
    expect(res.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect(JSON.parse(res.body)).toMatchObject({ status: 400, type: 'https://securecart.dev/problems/bad-request' });
  });
});

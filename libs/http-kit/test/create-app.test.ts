/**
 * What every service's app does with input that no schema describes: found by the hostile-input sweep
 * (local/test/hostile-input.int.test.ts), each was a 500 or an answer that was not a problem.
 */
import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp, type App } from '../src/index.ts';

let app: App;

beforeAll(async () => {
  app = await createHttpApp({
    service: 'test',
    logger: false,
    verifier: { verify: async () => Promise.reject(new Error('no tokens in this test')) },
    readiness: {},
    rateLimit: { max: 1_000, windowMs: 60_000 },
    docs: { title: 'test', version: '0', description: 'test' },
  });
  app.delete('/things', async () => ({ deleted: true }));
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

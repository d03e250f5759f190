/**
 * The local edge under hostile input, as the hostile-input sweep (local/test/hostile-input.int.test.ts) found it: its
 * own answers were Fastify's JSON instead of problems, the development identity provider's body was coerced and
 * stripped of unknown fields instead of refused, a GET with a body desynchronised the pooled connection to a service
 * (the next request, maybe another client's, got a 400 or someone else's answer), and a body over the limit raced
 * the service's refusal into a 503.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEdge } from '../src/edge.ts';

let upstream: FastifyInstance;
let edge: FastifyInstance;
const seen: string[] = [];

beforeAll(async () => {
  upstream = Fastify();
  upstream.all('/*', async (request) => {
    seen.push(`${request.method} ${request.url}`);
    return { forwarded: request.url };
  });
  const catalog = await upstream.listen({ port: 0, host: '127.0.0.1' });
  const gone = Fastify();
  const orders = await gone.listen({ port: 0, host: '127.0.0.1' });
  await gone.close();
  edge = await buildEdge({
    upstreams: { catalog, orders },
    extraRoutes: async (app) => {
      app.post(
        '/api/dev/echo',
        { schema: { body: { type: 'object', properties: { sub: { type: 'string' } }, required: ['sub'], additionalProperties: false } } },
        async (request) => request.body,
      );
    },
  });
  await edge.ready();
});
afterAll(async () => {
  await edge.close();
  await upstream.close();
});

function expectProblem(res: { statusCode: number; headers: Record<string, unknown>; json: () => unknown }, status: number) {
  expect(res.statusCode).toBe(status);
  expect(res.headers['content-type']).toContain('application/problem+json');
  expect(res.json()).toMatchObject({ status, title: expect.any(String) });
}

describe('the local edge', () => {
  it('forwards a request by its path rule', async () => {
    const res = await edge.inject({ method: 'GET', url: '/api/catalog/products?limit=1' });
    expect(res.json()).toEqual({ forwarded: '/api/catalog/products?limit=1' });
  });

  it('answers a path whose dot segments climb out of its prefix with a problem, and forwards nothing', async () => {
    expectProblem(await edge.inject({ method: 'GET', url: '/api/catalog/products/..%2f..%2finternal%2fproducts%2flookup' }), 400);
  });

  it('answers a malformed percent-encoding with a problem', async () => {
    expectProblem(await edge.inject({ method: 'GET', url: '/api/catalog/products/%zz' }), 400);
  });

  it('answers for a service that does not answer with a 503 problem and Retry-After', async () => {
    const res = await edge.inject({ method: 'GET', url: '/api/orders' });
    expectProblem(res, 503);
    expect(res.headers['retry-after']).toBe('5');
  });

  it('forwards a GET without the Content-Length of the body it does not forward: the next request on the connection is intact', async () => {
    const withBody = await edge.inject({ method: 'GET', url: '/api/catalog/categories', headers: { 'content-type': 'application/json' }, payload: '{"limit":1000}' });
    expect(withBody.statusCode).toBe(200);
    for (let i = 0; i < 3; i++) {
      const next = await edge.inject({ method: 'GET', url: `/api/catalog/products?n=${i}` });
      expect(next.json()).toEqual({ forwarded: `/api/catalog/products?n=${i}` });
    }
  });

  it('answers a body over the services\' limit with 413 itself, without forwarding it', async () => {
    seen.length = 0;
    const res = await edge.inject({ method: 'POST', url: '/api/catalog/products', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ p: 'x'.repeat(70_000) }) });
    expectProblem(res, 413);
    expect(seen).toEqual([]);
    expect((await edge.inject({ method: 'POST', url: '/api/catalog/products', payload: { p: 'x'.repeat(60_000) } })).statusCode).toBe(200);
  });

  it('validates the bodies of its own routes as the services do: unknown fields refused, nothing coerced', async () => {
    const echo = (payload: unknown) => edge.inject({ method: 'POST', url: '/api/dev/echo', payload: payload as object });
    expectProblem(await echo({ sub: 5 }), 400);
    expectProblem(await echo({ sub: 'alice', groups: ['admin'] }), 400);
    expect((await echo({ sub: 'alice' })).json()).toEqual({ sub: 'alice' });
  });
});

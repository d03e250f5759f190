/**
 * Compose mode's edge (compose/nginx/edge.conf) in a real nginx, in front of stand-in services that say who they
 * are: every path goes where EDGE_RULES (libs/edge/src/rules.ts, the embedded edge's table) sends it, unchanged;
 * /internal/... and every path no rule names is a 404 problem that reaches no service, however it is spelled; the
 * live status stream passes each event on as it comes and lets go of the service when the client leaves; a
 * service that does not answer is a 503 problem.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EDGE_RULES, routeFor } from '@securecart/edge';
import { waitFor } from '@securecart/testing';
import { EDGE_CONF, startEdgeNginx, type RunningNginx } from './nginx.ts';

const UPSTREAMS = ['catalog', 'checkout', 'orders', 'dev-idp'] as const;
type Upstream = (typeof UPSTREAMS)[number];
const DEV_IDP_PATHS = ['/api/dev/token', '/.well-known/jwks.json'];

interface Hit {
  upstream: Upstream;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

const hits: Hit[] = [];
const servers = new Map<Upstream, http.Server>();
/** the live stream the stand-in orders is serving: send the next event, and whether the edge has let go of it */
const stream = { next: undefined as (() => void) | undefined, closed: false };
let edge: RunningNginx;

function standIn(upstream: Upstream): http.Server {
  return http.createServer((req, res) => {
    hits.push({ upstream, method: req.method!, url: req.url!, headers: req.headers });
    if (upstream === 'orders' && /^\/api\/orders\/stream-[^/]+\/events$/.test(req.url!)) {
      // no X-Accel-Buffering header: the edge's configuration alone must stream it
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let id = 0;
      stream.closed = false;
      stream.next = () => res.write(`event: status\nid: ${++id}\ndata: {"n":${id}}\n\n`);
      stream.next();
      res.on('close', () => (stream.closed = true));
      return;
    }
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ upstream, url: req.url }));
    });
  });
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request with its path exactly as written: fetch() would resolve dot segments before sending. */
function raw(path: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: edge.port, path, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

beforeAll(async () => {
  const ports: Record<string, number> = {};
  for (const upstream of UPSTREAMS) {
    const server = standIn(upstream);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.set(upstream, server);
    ports[upstream] = (server.address() as AddressInfo).port;
  }
  edge = await startEdgeNginx(ports);
});

afterAll(async () => {
  await edge?.stop();
  for (const server of servers.values()) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** Where the embedded edge sends a path: EDGE_RULES' service, the dev identity provider, or nowhere. */
const expected = (path: string): Upstream | undefined =>
  routeFor(path) ?? (DEV_IDP_PATHS.includes(path.split('?')[0]!) ? 'dev-idp' : undefined);

describe('the nginx edge', () => {
  const ruled = EDGE_RULES.flatMap((rule) => rule.prefixes.flatMap((prefix) => [prefix, `${prefix}/`, `${prefix}/9c1f0a4e/sub?cursor=a%2Fb&limit=5`, `${prefix}?status=PLACED`]));
  it.each([...ruled, ...DEV_IDP_PATHS, '/api/catalog/products/caf%C3%A9', '/api/orders/0193f6c2/events'])('sends %s where EDGE_RULES does, unchanged', async (path) => {
    const before = hits.length;
    const answer = await raw(path, { headers: { 'x-request-id': 'req-1.a_b' } });
    expect(answer.status, answer.body).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ upstream: expected(path), url: path });
    const hit = hits.slice(before).at(-1)!;
    expect(hit.headers['x-request-id']).toBe('req-1.a_b');
    expect(hit.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(hit.headers['x-forwarded-proto']).toBe('http');
  });

  it('holds exactly the rules of EDGE_RULES, for the path as sent and as nginx reads it', () => {
    const conf = readFileSync(EDGE_CONF, 'utf8');
    const mapEntries = (variable: string) => {
      const block = new RegExp(`map \\$${variable} \\$\\w+ \\{([^}]*)\\}`).exec(conf)?.[1] ?? '';
      return [...block.matchAll(/"(~[^"]+)"\s+([\w-]+);/g)].map(([, pattern, service]) => [pattern, service]);
    };
    const escape = (path: string) => path.replaceAll('.', '\\.');
    const rules = EDGE_RULES.flatMap((r) => r.prefixes.map((prefix) => [escape(prefix), r.service] as const));
    const idp = DEV_IDP_PATHS.map((path) => [escape(path), 'dev-idp'] as const);
    // a prefix is itself or what is below it; the identity provider's paths are exact; a query may follow as sent
    expect(mapEntries('request_uri')).toEqual([
      ...rules.map(([prefix, service]) => [`~^${prefix}(?:[/?]|$)`, service]),
      ...idp.map(([path, service]) => [`~^${path}(?:\\?|$)`, service]),
    ]);
    expect(mapEntries('uri')).toEqual([...rules.map(([prefix, service]) => [`~^${prefix}(?:/|$)`, service]), ...idp.map(([path, service]) => [`~^${path}$`, service])]);
  });

  it.each([
    '/internal/products/lookup',
    '/internal/reservations/0193f6c2',
    '/api/cartoon',
    '/api/catalogue/products',
    '/api/admin/ordersx',
    '/api/admin',
    '/api',
    '/',
    '/health/ready',
    '/metrics',
    '/docs',
    '/API/catalog/products',
    '/api/dev/token/',
    '//api/catalog/products',
    // the same internal route, disguised: dot segments and encoded slashes never reach a service
    '/api/catalog/../../internal/products/lookup',
    '/api/catalog/%2e%2e/%2e%2e/internal/products/lookup',
    '/api/catalog/..%2F..%2Finternal/products/lookup',
    '/internal/products/lookup/..%2F..%2F..%2Fapi%2Fcatalog%2Fproducts',
    '/internal/../api/catalog/products',
  ])('answers %s with a 404 problem and bothers no service', async (path) => {
    const before = hits.length;
    const answer = await raw(path, { method: path.startsWith('/internal') ? 'POST' : 'GET', headers: { 'content-type': 'application/json' }, body: '{"ids":[]}' });
    expect(answer.status).toBe(404);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(answer.body)).toMatchObject({ status: 404, type: 'https://securecart.dev/problems/not-found' });
    expect(hits.slice(before)).toEqual([]);
    expect(expected(path) === undefined || path.includes('..') || path.includes('%2')).toBe(true);
  });

  it('gives a request without a usable request id one of its own', async () => {
    const before = hits.length;
    await raw('/api/catalog/products', { headers: { 'x-request-id': 'not a request id!' } });
    expect(hits.slice(before)[0]!.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
  });

  it('refuses a body over 1 MiB with a 413 problem', async () => {
    const answer = await raw('/api/catalog/products', { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.alloc(1024 * 1024 + 1, 'a') });
    expect(answer.status).toBe(413);
    expect(answer.headers['content-type']).toBe('application/problem+json');
  });

  it('passes each event of the live status stream on before the next is sent, and lets go of the service when the client leaves', async () => {
    let received = '';
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: edge.port, path: '/api/orders/stream-1/events', headers: { accept: 'text/event-stream' }, agent: false }, resolve).on('error', reject);
    });
    res.on('data', (chunk: Buffer) => (received += chunk.toString()));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    // the stand-in sends event n+1 only once event n has come out of the edge: a buffering proxy would stall here
    for (let id = 1; id <= 3; id++) {
      await waitFor(() => received.includes(`id: ${id}\n`), { timeoutMs: 3_000, what: `event ${id} through the edge` });
      if (id < 3) stream.next!();
    }
    expect(received.match(/^event: status$/gm)).toHaveLength(3);
    res.destroy();
    await waitFor(() => stream.closed, { timeoutMs: 3_000, what: 'the edge to close the stream upstream' });
  });

  it('answers 503 with Retry-After, as a problem, when the service behind a path does not answer', async () => {
    const idp = servers.get('dev-idp')!;
    idp.closeAllConnections();
    await new Promise((resolve) => idp.close(resolve));
    servers.delete('dev-idp');
    const answer = await raw('/.well-known/jwks.json');
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('5');
    expect(answer.headers['content-type']).toBe('application/problem+json');
  });
});

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestIdentityProvider, type TestIdentityProvider } from '@securecart/testing';
import { buildTestCatalog, migrateCatalog, newProduct, type TestCatalog } from './harness.ts';

const infra = inject('infra');
let idp: TestIdentityProvider;
let catalog: TestCatalog;
let admin: string;
let customer: string;

beforeAll(async () => {
  idp = await startTestIdentityProvider();
  await migrateCatalog(infra);
  catalog = await buildTestCatalog(infra, idp);
  admin = `Bearer ${await idp.token('admin-1', { admin: true })}`;
  customer = `Bearer ${await idp.token('customer-1')}`;
});
afterAll(async () => {
  await catalog?.close();
  await idp?.close();
});

async function create(body: Record<string, unknown> = newProduct()) {
  const res = await catalog.app.inject({ method: 'POST', url: '/api/catalog/products', headers: { authorization: admin }, payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ id: string; slug: string; sku: string; name: string }>();
}

describe('admin writes', () => {
  it('creates a product with 201 and a Location that reads back at once', async () => {
    const body = newProduct({ name: 'Aurora Kettle' });
    const res = await catalog.app.inject({ method: 'POST', url: '/api/catalog/products', headers: { authorization: admin }, payload: body });
    expect(res.statusCode).toBe(201);
    const created = res.json();
    expect(res.headers.location).toBe(`/api/catalog/products/${created.id}`);
    expect(created).toMatchObject({ sku: body.sku, slug: body.slug, priceCents: 1999, status: 'active', stock: 5 });
    const read = await catalog.app.inject({ url: res.headers.location as string });
    expect(read.statusCode).toBe(200);
    expect(read.json().name).toBe('Aurora Kettle');
  });

  it('answers 409 for a duplicate sku and for a duplicate slug', async () => {
    const first = await create();
    const sameSku = await catalog.app.inject({
      method: 'POST', url: '/api/catalog/products', headers: { authorization: admin }, payload: newProduct({ sku: first.sku }),
    });
    expect(sameSku.statusCode).toBe(409);
    expect(sameSku.headers['content-type']).toContain('application/problem+json');
    expect(sameSku.json()).toMatchObject({ status: 409, type: 'https://securecart.dev/problems/duplicate-sku' });
    const sameSlug = await catalog.app.inject({
      method: 'POST', url: '/api/catalog/products', headers: { authorization: admin }, payload: newProduct({ slug: first.slug }),
    });
    expect(sameSlug.statusCode).toBe(409);
    expect(sameSlug.json().type).toBe('https://securecart.dev/problems/duplicate-slug');
  });

  it('patches a product and the next read shows the change', async () => {
    const product = await create();
    await catalog.app.inject({ url: `/api/catalog/products/${product.id}` }); // warm the cache
    const res = await catalog.app.inject({
      method: 'PATCH', url: `/api/catalog/products/${product.id}`, headers: { authorization: admin }, payload: { priceCents: 2500, name: 'Renamed' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ priceCents: 2500, name: 'Renamed' });
    const read = await catalog.app.inject({ url: `/api/catalog/products/${product.id}` });
    expect(read.json()).toMatchObject({ priceCents: 2500, name: 'Renamed' });
  });

  it('archives with DELETE: 204, then the product is gone from reads and lists', async () => {
    const product = await create(newProduct({ category: 'archive-test' }));
    const del = await catalog.app.inject({ method: 'DELETE', url: `/api/catalog/products/${product.id}`, headers: { authorization: admin } });
    expect(del.statusCode).toBe(204);
    expect((await catalog.app.inject({ url: `/api/catalog/products/${product.id}` })).statusCode).toBe(404);
    expect((await catalog.app.inject({ url: `/api/catalog/products/${product.slug}` })).statusCode).toBe(404);
    const list = await catalog.app.inject({ url: '/api/catalog/products?category=archive-test' });
    expect(list.json().items).toEqual([]);
  });

  it('sets stock with PUT and refuses a negative stock', async () => {
    const product = await create();
    const ok = await catalog.app.inject({ method: 'PUT', url: `/api/catalog/products/${product.id}/stock`, headers: { authorization: admin }, payload: { stock: 42 } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().stock).toBe(42);
    const bad = await catalog.app.inject({ method: 'PUT', url: `/api/catalog/products/${product.id}/stock`, headers: { authorization: admin }, payload: { stock: -1 } });
    expect(bad.statusCode).toBe(400);
    expect((await catalog.app.inject({ url: `/api/catalog/products/${product.id}` })).json().stock).toBe(42);
  });

  it('answers 404 for writes to a product that does not exist', async () => {
    const res = await catalog.app.inject({
      method: 'PATCH', url: '/api/catalog/products/00000000-0000-4000-8000-000000000000', headers: { authorization: admin }, payload: { name: 'x' },
    });
    expect(res.statusCode).toBe(404);
  });
});

describe('authentication and authorisation', () => {
  it('answers 401 without a token on admin routes', async () => {
    const res = await catalog.app.inject({ method: 'POST', url: '/api/catalog/products', payload: newProduct() });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toContain('Bearer');
  });

  it('answers 401 for a token signed by another key, and for a malformed header', async () => {
    const stranger = await startTestIdentityProvider();
    try {
      const forged = await stranger.token('admin-1', { admin: true });
      const res = await catalog.app.inject({ method: 'POST', url: '/api/catalog/products', headers: { authorization: `Bearer ${forged}` }, payload: newProduct() });
      expect(res.statusCode).toBe(401);
    } finally {
      await stranger.close();
    }
    const malformed = await catalog.app.inject({ url: '/api/catalog/products', headers: { authorization: 'Basic abc' } });
    expect(malformed.statusCode).toBe(401);
  });

  it('answers 403 to a customer on admin routes and stores nothing', async () => {
    const body = newProduct();
    const res = await catalog.app.inject({ method: 'POST', url: '/api/catalog/products', headers: { authorization: customer }, payload: body });
    expect(res.statusCode).toBe(403);
    expect((await catalog.app.inject({ url: `/api/catalog/products/${body.slug}` })).statusCode).toBe(404);
  });
});

describe('bad input', () => {
  it('answers 400 with field paths, rejects unknown fields, and stores nothing', async () => {
    const body = { ...newProduct(), priceCents: 'free', colour: 'red' } as Record<string, unknown>;
    delete body.name;
    const res = await catalog.app.inject({ method: 'POST', url: '/api/catalog/products', headers: { authorization: admin }, payload: body });
    expect(res.statusCode).toBe(400);
    const problem = res.json();
    expect(problem).toMatchObject({ status: 400, title: 'Invalid request', type: 'https://securecart.dev/problems/validation' });
    const paths = problem.errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['/name', '/priceCents', '/colour']));
    expect((await catalog.app.inject({ url: `/api/catalog/products/${String(body.slug)}` })).statusCode).toBe(404);
  });

  it('does not coerce body types: a quoted number is refused', async () => {
    const res = await catalog.app.inject({
      method: 'POST', url: '/api/catalog/products', headers: { authorization: admin }, payload: newProduct({ priceCents: '1999' }),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0].path).toBe('/priceCents');
  });

  it('answers 400 for malformed JSON and 415 for a body that is not JSON', async () => {
    const malformed = await catalog.app.inject({
      method: 'POST', url: '/api/catalog/products', headers: { authorization: admin, 'content-type': 'application/json' }, payload: '{"sku": ',
    });
    expect(malformed.statusCode).toBe(400);
    const xml = await catalog.app.inject({
      method: 'POST', url: '/api/catalog/products', headers: { authorization: admin, 'content-type': 'application/xml' }, payload: '<product/>',
    });
    expect(xml.statusCode).toBe(415);
    expect(xml.headers['content-type']).toContain('application/problem+json');
  });

  it('answers 413 for an oversized body', async () => {
    const res = await catalog.app.inject({
      method: 'POST', url: '/api/catalog/products', headers: { authorization: admin }, payload: newProduct({ description: 'x'.repeat(200_000) }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().status).toBe(413);
  });

  it('answers 400 for a limit over 100 and for a cursor it did not issue', async () => {
    expect((await catalog.app.inject({ url: '/api/catalog/products?limit=101' })).statusCode).toBe(400);
    const bad = await catalog.app.inject({ url: '/api/catalog/products?cursor=bm9wZQ' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].path).toBe('/cursor');
  });

  it('answers 404 problems for unknown routes and products, never 500', async () => {
    const route = await catalog.app.inject({ url: '/api/catalog/nothing-here' });
    expect(route.statusCode).toBe(404);
    expect(route.json().type).toBe('https://securecart.dev/problems/not-found');
    expect((await catalog.app.inject({ url: '/api/catalog/products/no-such-slug' })).statusCode).toBe(404);
    expect((await catalog.app.inject({ url: '/api/catalog/products/NOT%20A%20SLUG%00' })).statusCode).toBe(404);
  });
});

describe('public reads', () => {
  it('lists active products in pages that chain by cursor without gaps or repeats', async () => {
    const category = `paging-${Date.now().toString(36)}`;
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) ids.add((await create(newProduct({ category, name: `Paged ${i}` }))).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/api/catalog/products?category=${category}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = (await catalog.app.inject({ url })).json();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((p: { id: string }) => p.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(5);
    expect(new Set(seen)).toEqual(ids);
  });

  it('finds products by words of their name or description, as prefixes', async () => {
    const word = `zebrafish${Date.now().toString(36)}`;
    const product = await create(newProduct({ name: `Striped ${word} lamp`, description: 'A lamp with stripes' }));
    const res = await catalog.app.inject({ url: `/api/catalog/products?q=${word.slice(0, -2)}` });
    expect(res.json().items.map((p: { id: string }) => p.id)).toEqual([product.id]);
    const none = await catalog.app.inject({ url: `/api/catalog/products?q=${word}+unicorn` });
    expect(none.json().items).toEqual([]);
  });

  it('finds a word typed halfway even where the English stemmer would change the prefix ("…y" → "…i")', async () => {
    const word = `zebrafishy${'abcdefghjk'[Date.now() % 10]}q`; // no digits: the stemmer applies
    const product = await create(newProduct({ name: `Glowing ${word} vase`, slug: `vase-${Date.now().toString(36)}` }));
    const res = await catalog.app.inject({ url: `/api/catalog/products?q=${word.slice(0, -2)}` }); // "zebrafishy"
    expect(res.json().items.map((p: { id: string }) => p.id)).toContain(product.id);
    const stop = await catalog.app.inject({ url: `/api/catalog/products?q=the+${word}` }); // a stop word changes nothing
    expect(stop.json().items.map((p: { id: string }) => p.id)).toContain(product.id);
  });

  it('reads a product by id and by slug', async () => {
    const product = await create();
    const byId = await catalog.app.inject({ url: `/api/catalog/products/${product.id}` });
    const bySlug = await catalog.app.inject({ url: `/api/catalog/products/${product.slug}` });
    expect(byId.statusCode).toBe(200);
    expect(bySlug.json()).toEqual(byId.json());
  });

  it('lists categories with their count of active products', async () => {
    const category = `counted-${Date.now().toString(36)}`;
    await create(newProduct({ category }));
    const archived = await create(newProduct({ category }));
    await catalog.app.inject({ method: 'DELETE', url: `/api/catalog/products/${archived.id}`, headers: { authorization: admin } });
    await create(newProduct({ category }));
    const res = await catalog.app.inject({ url: '/api/catalog/categories' });
    const entry = res.json().items.find((c: { slug: string }) => c.slug === category);
    expect(entry).toEqual({ slug: category, name: expect.stringMatching(/^Counted/), productCount: 2 });
  });

  it('sends ETag and Cache-Control, and 304 for a matching If-None-Match', async () => {
    const product = await create();
    const first = await catalog.app.inject({ url: `/api/catalog/products/${product.id}` });
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^".+"$/);
    expect(first.headers['cache-control']).toContain('max-age=');
    const again = await catalog.app.inject({ url: `/api/catalog/products/${product.id}`, headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    const weak = await catalog.app.inject({ url: `/api/catalog/products/${product.id}`, headers: { 'if-none-match': `"x", W/${etag}` } });
    expect(weak.statusCode).toBe(304);
    await catalog.app.inject({ method: 'PATCH', url: `/api/catalog/products/${product.id}`, headers: { authorization: admin }, payload: { name: 'Changed' } });
    const changed = await catalog.app.inject({ url: `/api/catalog/products/${product.id}`, headers: { 'if-none-match': etag } });
    expect(changed.statusCode).toBe(200);
    expect(changed.headers.etag).not.toBe(etag);
  });

  it('prices many products at once on the internal route, naming the missing ones', async () => {
    const a = await create(newProduct({ priceCents: 1234 }));
    const b = await create(newProduct({ priceCents: 99 }));
    const missing = '00000000-0000-4000-8000-00000000abcd';
    const res = await catalog.app.inject({ method: 'POST', url: '/internal/products/lookup', payload: { ids: [a.id, b.id, missing] } });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.missing).toEqual([missing]);
    expect(Object.fromEntries(body.items.map((p: { id: string; priceCents: number }) => [p.id, p.priceCents]))).toEqual({ [a.id]: 1234, [b.id]: 99 });
  });
});

describe('operations', () => {
  it('reports liveness, readiness with its checks, metrics and the OpenAPI document', async () => {
    expect((await catalog.app.inject({ url: '/health/live' })).statusCode).toBe(200);
    const ready = await catalog.app.inject({ url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ok', checks: { primary: 'ok' } });
    await catalog.app.inject({ url: '/api/catalog/categories' });
    const metrics = await catalog.app.inject({ url: '/metrics' });
    expect(metrics.body).toMatch(/http_requests_total\{[^}]*route="\/api\/catalog\/categories"/);
    expect(metrics.body).toMatch(/db_reads\{[^}]*target="replica"/);
    const spec = (await catalog.app.inject({ url: '/openapi.json' })).json();
    expect(spec.openapi).toBe('3.1.0');
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/api/catalog/products', '/api/catalog/products/{idOrSlug}', '/api/catalog/categories']));
    expect((await catalog.app.inject({ url: '/docs' })).statusCode).toBeLessThan(400);
  });

  it('echoes a request id and sets security headers', async () => {
    const res = await catalog.app.inject({ url: '/api/catalog/categories', headers: { 'x-request-id': 'abc-123' } });
    expect(res.headers['x-request-id']).toBe('abc-123');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    const hostile = await catalog.app.inject({ url: '/api/catalog/categories', headers: { 'x-request-id': 'bad id\nwith newline' } });
    expect(hostile.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

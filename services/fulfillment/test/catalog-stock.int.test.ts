/**
 * The catalog adapter over real HTTP: what the catalog's answers mean to the saga. 2xx is the result; 400, 404 and 409
 * are the catalog saying no (permanent); 5xx, a refused connection and a catalog that does not answer in time are
 * transient. A base URL with a path keeps it in front of every call.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { CatalogStockReservations } from '../src/adapters/catalog-stock.ts';
import { PermanentFailure, TransientFailure } from '../src/ports.ts';

const servers: http.Server[] = [];
const adapters: CatalogStockReservations[] = [];
afterAll(async () => {
  await Promise.all(adapters.map((a) => a.close()));
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A catalog that answers every call with `status` and `body`, and records what it was asked. */
async function fakeCatalog(status: number, body: unknown, options: { silent?: boolean } = {}) {
  const calls: { url: string; body: string }[] = [];
  const server = http.createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      calls.push({ url: request.url!, body: text });
      if (options.silent) return;
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls };
}

const adapter = (baseUrl: string, timeoutMs = 2_000) => {
  const made = new CatalogStockReservations({ baseUrl, timeoutMs });
  adapters.push(made);
  return made;
};
const lines = [{ productId: '00000000-0000-4000-8000-000000000001', quantity: 2 }];

describe('the catalog stock adapter', () => {
  it('posts the reservation as JSON under the base URL’s path, and takes a 2xx as the result', async () => {
    const catalog = await fakeCatalog(201, { status: 'RESERVED' });
    await expect(adapter(`${catalog.url}/prefix/`).reserve('order-1', lines)).resolves.toEqual({ reservationId: 'order-1' });
    expect(catalog.calls).toEqual([{ url: '/prefix/internal/reservations', body: JSON.stringify({ orderId: 'order-1', lines }) }]);
  });

  it('takes a RELEASED reservation (the order was cancelled) as permanent', async () => {
    const catalog = await fakeCatalog(200, { status: 'RELEASED' });
    await expect(adapter(catalog.url).reserve('order-2', lines)).rejects.toBeInstanceOf(PermanentFailure);
  });

  it.each([400, 404, 409])('takes %i as the catalog saying no: permanent, with its detail', async (status) => {
    const catalog = await fakeCatalog(status, { detail: 'Not enough stock of SKU-1' });
    await expect(adapter(catalog.url).reserve('order-3', lines)).rejects.toThrow(new PermanentFailure('Not enough stock of SKU-1'));
  });

  it('takes a 5xx, even without a problem body, as transient', async () => {
    const catalog = await fakeCatalog(503, 'not json at all');
    const error = await adapter(catalog.url).commit('order-4').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientFailure);
    expect((error as Error).message).toBe('catalog answered 503: catalog answered 503');
  });

  it('takes a refused connection and a catalog that does not answer in time as transient', async () => {
    const closed = await fakeCatalog(200, {});
    await new Promise((resolve) => servers.pop()!.close(resolve));
    await expect(adapter(closed.url).release('order-5')).rejects.toThrow(/^catalog unreachable: /);
    const silent = await fakeCatalog(200, {}, { silent: true });
    const started = Date.now();
    await expect(adapter(silent.url, 300).commit('order-6')).rejects.toBeInstanceOf(TransientFailure);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

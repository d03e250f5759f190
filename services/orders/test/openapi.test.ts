import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ordersOpenApi } from '../src/openapi.ts';

type Spec = { paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown }>> };

describe('docs/openapi/orders.json', () => {
  it('is the document the code generates (run `pnpm docs:generate` after changing a route)', async () => {
    const committed = readFileSync(new URL('../../../docs/openapi/orders.json', import.meta.url), 'utf8');
    expect(JSON.parse(committed)).toEqual(await ordersOpenApi());
  });

  it('documents every orders route of the contract with its answers', async () => {
    const spec = (await ordersOpenApi()) as Spec;
    const answers = (path: string, method: string) => Object.keys(spec.paths[path]![method]!.responses).sort();
    expect(answers('/api/orders', 'get')).toEqual(['200', '400', '401']);
    expect(answers('/api/orders/{id}', 'get')).toEqual(['200', '400', '401', '404']);
    expect(answers('/api/orders/{id}/cancel', 'post')).toEqual(['200', '400', '401', '404', '409']);
    expect(answers('/api/orders/{id}/events', 'get')).toEqual(['200', '204', '400', '401', '404']);
    expect(Object.keys((spec.paths['/api/orders/{id}/events']!.get!.responses['200'] as { content: object }).content)).toEqual(['text/event-stream']);
    expect(answers('/api/admin/orders', 'get')).toEqual(['200', '400', '401', '403']);
    expect(answers('/api/admin/orders/{id}/refund', 'post')).toEqual(['200', '400', '401', '403', '404', '409']);
    expect(Object.values(spec.paths).flatMap((ops) => Object.values(ops)).every((op) => op.security)).toBe(true);
  });
});

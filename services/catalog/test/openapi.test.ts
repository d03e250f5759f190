import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { catalogOpenApi } from '../src/openapi.ts';

describe('docs/openapi/catalog.json', () => {
  it('is the document the code generates (run `pnpm docs:generate` after changing a route)', async () => {
    const committed = readFileSync(new URL('../../../docs/openapi/catalog.json', import.meta.url), 'utf8');
    expect(JSON.parse(committed)).toEqual(await catalogOpenApi());
  });

  it('documents every public route of the contract with its answers', async () => {
    const spec = (await catalogOpenApi()) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    expect(Object.keys(spec.paths['/api/catalog/products']!)).toEqual(expect.arrayContaining(['get', 'post']));
    expect(Object.keys(spec.paths['/api/catalog/products/{id}']!)).toEqual(expect.arrayContaining(['patch', 'delete']));
    expect(Object.keys(spec.paths['/api/catalog/products/{id}/stock']!)).toEqual(['put']);
    expect(Object.keys(spec.paths['/api/catalog/products']!.post!.responses)).toEqual(expect.arrayContaining(['201', '400', '401', '403', '409']));
  });
});

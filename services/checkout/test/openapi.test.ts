import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkoutOpenApi } from '../src/openapi.ts';

describe('docs/openapi/checkout.json', () => {
  it('is the document the code generates (run `pnpm docs:generate` after changing a route)', async () => {
    const committed = readFileSync(new URL('../../../docs/openapi/checkout.json', import.meta.url), 'utf8');
    expect(JSON.parse(committed)).toEqual(await checkoutOpenApi());
  });
});

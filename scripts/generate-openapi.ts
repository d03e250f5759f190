/**
 * Writes each service's OpenAPI document to docs/openapi/<service>.json from its route schemas.
 * `pnpm docs:generate`; a test fails when the committed files are stale.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { catalogOpenApi } from '@securecart/catalog/openapi';
import { ordersOpenApi } from '@securecart/orders/openapi';
import { checkoutOpenApi } from '@securecart/checkout/openapi';

export const OPENAPI_DOCUMENTS: Record<string, () => Promise<object>> = {
  catalog: catalogOpenApi,
  orders: ordersOpenApi,
  checkout: checkoutOpenApi,
};

export const serializeSpec = (spec: object) => `${JSON.stringify(spec, null, 2)}\n`;

if (import.meta.main) {
  const dir = fileURLToPath(new URL('../docs/openapi/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  for (const [service, build] of Object.entries(OPENAPI_DOCUMENTS)) {
    writeFileSync(`${dir}${service}.json`, serializeSpec(await build()));
    console.log(`docs/openapi/${service}.json`);
  }
}

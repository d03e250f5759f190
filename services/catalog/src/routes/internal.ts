/**
 * Internal routes, reached by other services over the private network and never routed by the edge or the ALB.
 * Checkout prices carts from here: the client's idea of a price is never used.
 */
import { ProductLookupRequest, ProductLookupResponse } from '@securecart/contracts';
import type { App } from '@securecart/http-kit';
import { findProductsByIds } from '../db/products-repo.ts';
import { toSnapshot } from '../domain/product.ts';
import type { CatalogRouteContext } from './context.ts';

export async function internalRoutes(app: App, ctx: CatalogRouteContext): Promise<void> {
  app.post(
    '/internal/products/lookup',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['internal'],
        summary: 'Prices and stock of many products at once (for checkout)',
        body: ProductLookupRequest,
        response: { 200: ProductLookupResponse },
      },
    },
    async (request) => {
      const ids = request.body.ids.map((id) => id.toLowerCase());
      let rows = await ctx.db.read((db) => findProductsByIds(db, ids));
      if (rows.length < ids.length) {
        // Products created a moment ago may not have reached the replica: ask the primary before saying "missing".
        rows = await ctx.db.read((db) => findProductsByIds(db, ids), { fresh: true });
      }
      const found = new Set(rows.map((r) => r.id));
      return { items: rows.map(toSnapshot), missing: ids.filter((id) => !found.has(id)) };
    },
  );
}

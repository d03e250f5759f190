/**
 * Public product reads: the list (category, text search, cursor pagination) and one product by id or slug.
 * Served through the cache (hot tier, Redis) from the replica; a product missing on the replica is looked up on
 * the primary before the answer is 404, so one created a moment ago is found.
 */
import { Type } from 'typebox';
import { Page, Product, ProductListQuery } from '@securecart/contracts';
import { badRequest, notFound, ProblemResponse, type App } from '@securecart/http-kit';
import { findProductById, findProductBySlug, listActiveProducts } from '../db/products-repo.ts';
import { decodeListCursor, encodeListCursor, SLUG, toProduct, UUID } from '../domain/product.ts';
import { cachedJson, sendCachedJson } from './cached-json.ts';
import { tags, type CatalogRouteContext } from './context.ts';

const ProductPage = Page(Product);
const ProblemRef = ProblemResponse;

export async function productRoutes(app: App, ctx: CatalogRouteContext): Promise<void> {
  const fresh = (changedAt: number) => Date.now() - changedAt < ctx.freshWindowMs;

  app.get(
    '/api/catalog/products',
    {
      schema: {
        tags: ['catalog'],
        summary: 'List active products',
        querystring: ProductListQuery,
        response: { 200: ProductPage, 304: Type.Null(), 400: ProblemRef },
      },
    },
    async (request, reply) => {
      const { category, q, cursor } = request.query;
      const limit = request.query.limit ?? 20;
      const after = cursor ? decodeListCursor(cursor) : undefined;
      if (cursor && !after) throw badRequest('The cursor is not one this API returned', [{ in: 'querystring', path: '/cursor', message: 'is not a valid cursor' }]);
      const query = q?.trim().toLowerCase().replace(/\s+/g, ' ');
      const key = `catalog:list:${JSON.stringify([category ?? '', query ?? '', limit, cursor ?? ''])}`;
      const entry = await ctx.cache.getOrLoad(key, { tags: [tags.products], ttlSeconds: ctx.cacheTtlSeconds }, async ({ changedAt }) => {
        const rows = await ctx.db.read((db) => listActiveProducts(db, { category, q: query, limit, after }), { fresh: fresh(changedAt) });
        const page = rows.slice(0, limit);
        const last = page.at(-1);
        const nextCursor = rows.length > limit && last ? encodeListCursor(last) : null;
        return cachedJson(reply, { items: page.map(toProduct), nextCursor });
      });
      return sendCachedJson(request, reply, entry!);
    },
  );

  app.get(
    '/api/catalog/products/:idOrSlug',
    {
      schema: {
        tags: ['catalog'],
        summary: 'One active product, by id or slug',
        params: Type.Object({ idOrSlug: Type.String({ minLength: 1, maxLength: 120 }) }),
        response: { 200: Product, 304: Type.Null(), 404: ProblemRef },
      },
    },
    async (request, reply) => {
      const { idOrSlug } = request.params;
      const byId = UUID.test(idOrSlug);
      // Anything that is neither a UUID nor a well-formed slug cannot name a product: no query for it.
      if (!byId && !SLUG.test(idOrSlug)) throw notFound(`No active product ${idOrSlug}`);
      const id = idOrSlug.toLowerCase();
      const entry = byId
        ? await ctx.cache.getOrLoad(`catalog:product:${id}`, { tags: [tags.product(id)], ttlSeconds: ctx.cacheTtlSeconds }, async ({ changedAt }) => {
            const row = await ctx.db.readOrPrimary((db) => findProductById(db, id), { fresh: fresh(changedAt) });
            return row && row.status === 'active' ? cachedJson(reply, toProduct(row)) : undefined;
          })
        : await ctx.cache.getOrLoad(`catalog:slug:${idOrSlug}`, { tags: [tags.products], ttlSeconds: ctx.cacheTtlSeconds }, async ({ changedAt }) => {
            const row = await ctx.db.readOrPrimary((db) => findProductBySlug(db, idOrSlug), { fresh: fresh(changedAt) });
            return row && row.status === 'active' ? cachedJson(reply, toProduct(row)) : undefined;
          });
      if (!entry) throw notFound(`No active product ${idOrSlug}`);
      return sendCachedJson(request, reply, entry);
    },
  );
}

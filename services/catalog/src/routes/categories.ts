import { CategoryList } from '@securecart/contracts';
import type { App } from '@securecart/http-kit';
import { listCategories } from '../db/products-repo.ts';
import { cachedJson, sendCachedJson } from './cached-json.ts';
import { tags, type CatalogRouteContext } from './context.ts';

export async function categoryRoutes(app: App, ctx: CatalogRouteContext): Promise<void> {
  app.get(
    '/api/catalog/categories',
    { schema: { tags: ['catalog'], summary: 'Categories with their count of active products', response: { 200: CategoryList } } },
    async (request, reply) => {
      const entry = await ctx.cache.getOrLoad('catalog:categories', { tags: [tags.products], ttlSeconds: ctx.cacheTtlSeconds }, async ({ changedAt }) => {
        const items = await ctx.db.read((db) => listCategories(db), { fresh: Date.now() - changedAt < ctx.freshWindowMs });
        return cachedJson(reply, { items });
      });
      return sendCachedJson(request, reply, entry!);
    },
  );
}

/**
 * Admin writes. Each one commits on the primary, then moves the cache on (tags of the product and of every list),
 * so the next read anywhere sees the write; the response comes from the row the write returned.
 */
import { v7 as uuidv7 } from 'uuid';
import { Type } from 'typebox';
import { CreateProduct, Product, SetStock, UpdateProduct } from '@securecart/contracts';
import { uniqueViolationOf } from '@securecart/db';
import { conflict, notFound, ProblemResponse, requireAdmin, type App } from '@securecart/http-kit';
import { archiveProduct, insertProduct, setProductStock, updateProduct } from '../db/products-repo.ts';
import { toProduct } from '../domain/product.ts';
import { tags, type CatalogRouteContext } from './context.ts';

const ProblemRef = ProblemResponse;
const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
const adminErrors = { 400: ProblemRef, 401: ProblemRef, 403: ProblemRef, 404: ProblemRef };

/** Unique violations become 409s that say which field collided. */
function asConflict(error: unknown): never {
  const pgError = uniqueViolationOf(error);
  if (pgError) {
    const field = pgError.constraint?.includes('sku') ? 'sku' : pgError.constraint?.includes('slug') ? 'slug' : 'a unique field';
    throw conflict(`Another product already has this ${field}`, `duplicate-${field === 'a unique field' ? 'product' : field}`);
  }
  throw error;
}

export async function adminProductRoutes(app: App, ctx: CatalogRouteContext): Promise<void> {
  const invalidate = (id: string) => ctx.cache.invalidate([tags.products, tags.product(id)]);
  const security = [{ bearer: [] }];

  app.post(
    '/api/catalog/products',
    {
      onRequest: requireAdmin,
      schema: {
        tags: ['catalog admin'],
        summary: 'Create a product',
        security,
        body: CreateProduct,
        response: { 201: Product, 409: ProblemRef, ...adminErrors },
      },
    },
    async (request, reply) => {
      const row = await insertProduct(ctx.db.primary, uuidv7(), request.body).catch(asConflict);
      await invalidate(row.id);
      return reply.code(201).header('location', `/api/catalog/products/${row.id}`).send(toProduct(row));
    },
  );

  app.patch(
    '/api/catalog/products/:id',
    {
      onRequest: requireAdmin,
      schema: {
        tags: ['catalog admin'],
        summary: 'Change a product',
        security,
        params: IdParams,
        body: UpdateProduct,
        response: { 200: Product, 409: ProblemRef, ...adminErrors },
      },
    },
    async (request) => {
      const row = await updateProduct(ctx.db.primary, request.params.id, request.body).catch(asConflict);
      if (!row) throw notFound(`No product ${request.params.id}`);
      await invalidate(row.id);
      return toProduct(row);
    },
  );

  app.delete(
    '/api/catalog/products/:id',
    {
      onRequest: requireAdmin,
      schema: {
        tags: ['catalog admin'],
        summary: 'Archive a product (it stays for orders that refer to it)',
        security,
        params: IdParams,
        response: { 204: Type.Null(), ...adminErrors },
      },
    },
    async (request, reply) => {
      const row = await archiveProduct(ctx.db.primary, request.params.id);
      if (!row) throw notFound(`No product ${request.params.id}`);
      await invalidate(row.id);
      return reply.code(204).send(null);
    },
  );

  app.put(
    '/api/catalog/products/:id/stock',
    {
      onRequest: requireAdmin,
      schema: {
        tags: ['catalog admin'],
        summary: 'Set the stock of a product',
        security,
        params: IdParams,
        body: SetStock,
        response: { 200: Product, ...adminErrors },
      },
    },
    async (request) => {
      const row = await setProductStock(ctx.db.primary, request.params.id, request.body.stock);
      if (!row) throw notFound(`No product ${request.params.id}`);
      await invalidate(row.id);
      return toProduct(row);
    },
  );
}

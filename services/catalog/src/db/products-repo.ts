/**
 * Queries of the catalog schema. Reads take whichever database the replica router hands them; writes take the
 * primary and write their catalog-events (product.created/updated/archived, stock.changed) to the outbox in the
 * same transaction. Nothing here knows about HTTP or the cache.
 */
import { and, asc, eq, gt, inArray, or, sql } from 'drizzle-orm';
import { inTransaction, type Db } from '@securecart/db';
import type { CreateProduct, EventName, EventPayload, UpdateProduct } from '@securecart/contracts';
import { createEvent, enqueueEvent } from '@securecart/messaging';
import { categoryName, searchTerms, type ListPosition } from '../domain/product.ts';
import { CATALOG_SCHEMA, categories, products, type ProductRow } from './schema.ts';

export interface ListFilter {
  category?: string | undefined;
  q?: string | undefined;
  limit: number;
  after?: ListPosition | undefined;
}

/** Returns one row more than asked, so the caller knows whether there is a next page. */
export async function listActiveProducts(db: Db, filter: ListFilter): Promise<ProductRow[]> {
  const conditions = [eq(products.status, 'active')];
  if (filter.category) conditions.push(eq(products.category, filter.category));
  // Each word is a prefix. Stemmed ('english') it finds other forms of a whole word; unstemmed ('simple') it finds a
  // word typed halfway, whose stem would not be a prefix of anything ("zebrafishy" → "zebrafishi"). A stop word
  // alone ("the") is skipped, as to_tsquery would.
  for (const term of filter.q ? searchTerms(filter.q) : []) {
    conditions.push(
      sql`(numnode(to_tsquery('english', ${term})) = 0 or ${products.search} @@ (to_tsquery('english', ${term}) || to_tsquery('simple', ${term})))`,
    );
  }
  if (filter.after) {
    conditions.push(
      or(gt(products.name, filter.after.name), and(eq(products.name, filter.after.name), gt(products.id, filter.after.id)))!,
    );
  }
  return db
    .select()
    .from(products)
    .where(and(...conditions))
    .orderBy(asc(products.name), asc(products.id))
    .limit(filter.limit + 1);
}

export async function findProductById(db: Db, id: string): Promise<ProductRow | undefined> {
  const [row] = await db.select().from(products).where(eq(products.id, id));
  return row;
}

export async function findProductBySlug(db: Db, slug: string): Promise<ProductRow | undefined> {
  const [row] = await db.select().from(products).where(eq(products.slug, slug));
  return row;
}

export async function findProductsByIds(db: Db, ids: string[]): Promise<ProductRow[]> {
  return ids.length === 0 ? [] : db.select().from(products).where(inArray(products.id, ids));
}

export async function listCategories(db: Db): Promise<{ slug: string; name: string; productCount: number }[]> {
  return db
    .select({
      slug: categories.slug,
      name: categories.name,
      productCount: sql<number>`(count(${products.id}) filter (where ${products.status} = 'active'))::int`,
    })
    .from(categories)
    .leftJoin(products, eq(products.category, categories.slug))
    .groupBy(categories.slug, categories.name)
    .orderBy(asc(categories.name));
}

async function ensureCategory(db: Db, slug: string): Promise<void> {
  await db.insert(categories).values({ slug, name: categoryName(slug) }).onConflictDoNothing();
}

async function emit<N extends EventName>(tx: Db, name: N, productId: string, data: EventPayload<N>): Promise<void> {
  await enqueueEvent(tx, CATALOG_SCHEMA, createEvent({ name, source: 'catalog', subject: productId, data }));
}

export async function insertProduct(db: Db, id: string, input: CreateProduct): Promise<ProductRow> {
  return inTransaction(db, async (tx) => {
    await ensureCategory(tx, input.category);
    const [row] = await tx
      .insert(products)
      .values({
        id,
        sku: input.sku,
        slug: input.slug,
        name: input.name,
        description: input.description ?? '',
        priceCents: input.priceCents,
        currency: input.currency ?? 'USD',
        category: input.category,
        imageUrl: input.imageUrl ?? null,
        stock: input.stock ?? 0,
      })
      .returning();
    await emit(tx, 'product.created', row!.id, { productId: row!.id, sku: row!.sku, slug: row!.slug, priceCents: row!.priceCents, currency: row!.currency });
    return row!;
  });
}

export async function updateProduct(db: Db, id: string, patch: UpdateProduct): Promise<ProductRow | undefined> {
  return inTransaction(db, async (tx) => {
    if (patch.category) await ensureCategory(tx, patch.category);
    const [row] = await tx
      .update(products)
      .set({ ...patch, updatedAt: sql`now()` })
      .where(eq(products.id, id))
      .returning();
    if (row) await emit(tx, 'product.updated', row.id, { productId: row.id, changes: Object.keys(patch).sort() });
    return row;
  });
}

export async function archiveProduct(db: Db, id: string): Promise<ProductRow | undefined> {
  return inTransaction(db, async (tx) => {
    const [row] = await tx
      .update(products)
      .set({ status: 'archived', updatedAt: sql`now()` })
      .where(eq(products.id, id))
      .returning();
    if (row) await emit(tx, 'product.archived', row.id, { productId: row.id });
    return row;
  });
}

/**
 * An admin's stock count. Stock reserved by orders not yet shipped is already off this number; setting it
 * overrides whatever reservations took (a stocktake), which is what an admin means by it.
 */
export async function setProductStock(db: Db, id: string, stock: number): Promise<ProductRow | undefined> {
  return inTransaction(db, async (tx) => {
    const [row] = await tx
      .update(products)
      .set({ stock, updatedAt: sql`now()` })
      .where(eq(products.id, id))
      .returning();
    if (row) await emit(tx, 'stock.changed', row.id, { productId: row.id, stock: row.stock, reason: 'set by an admin' });
    return row;
  });
}

export async function countProducts(db: Db): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(products);
  return row?.n ?? 0;
}

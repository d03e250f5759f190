/**
 * The catalog's own Postgres schema `catalog`: categories and products. No other service reads these tables;
 * they ask catalog over HTTP. Migrations are generated from this file by drizzle-kit (pnpm db:generate).
 */
import { sql } from 'drizzle-orm';
import { check, customType, index, integer, pgSchema, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

export const catalog = pgSchema('catalog');

const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' });

export const categories = catalog.table('categories', {
  slug: text('slug').primaryKey(),
  name: text('name').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

export const productStatus = catalog.enum('product_status', ['active', 'archived']);

export const products = catalog.table(
  'products',
  {
    id: uuid('id').primaryKey(),
    sku: text('sku').notNull(),
    slug: text('slug').notNull(),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    priceCents: integer('price_cents').notNull(),
    currency: text('currency').notNull().default('USD'),
    category: text('category')
      .notNull()
      .references(() => categories.slug),
    imageUrl: text('image_url'),
    stock: integer('stock').notNull().default(0),
    status: productStatus('status').notNull().default('active'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    search: tsvector('search').generatedAlwaysAs(
      sql`to_tsvector('english', coalesce(name, '') || ' ' || coalesce(description, ''))`,
    ),
  },
  (t) => [
    uniqueIndex('products_sku_key').on(t.sku),
    uniqueIndex('products_slug_key').on(t.slug),
    index('products_listing_idx').on(t.status, t.name, t.id),
    index('products_category_idx').on(t.category, t.status, t.name, t.id),
    index('products_search_idx').using('gin', t.search),
    check('products_stock_not_negative', sql`${t.stock} >= 0`),
    check('products_price_not_negative', sql`${t.priceCents} >= 0`),
  ],
);

export type ProductRow = typeof products.$inferSelect;
export type NewProductRow = typeof products.$inferInsert;

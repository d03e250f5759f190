/**
 * The catalog's own Postgres schema `catalog`: categories, products, stock reservations and the outbox of
 * catalog-events. No other service reads these tables; they ask catalog over HTTP and hear from it by events. Migrations are generated from this file by drizzle-kit (pnpm db:generate).
 */
import { sql } from 'drizzle-orm';
import { check, customType, index, integer, jsonb, pgSchema, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { outboxTable } from '@securecart/messaging';

export const CATALOG_SCHEMA = 'catalog';

export const catalog = pgSchema(CATALOG_SCHEMA);

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

export const reservationStatus = catalog.enum('reservation_status', ['RESERVED', 'RELEASED', 'COMMITTED']);

/**
 * One reservation per order (the order id is the idempotency key). Reserving takes the stock off the product at
 * once; releasing puts it back; committing (on shipment) makes the take final. A release that arrives before its
 * reservation leaves a RELEASED row with no lines, so the late reservation cannot take stock any more.
 */
export const reservations = catalog.table('reservations', {
  orderId: uuid('order_id').primaryKey(),
  status: reservationStatus('status').notNull(),
  lines: jsonb('lines').$type<{ productId: string; quantity: number }[]>().notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export const outbox = outboxTable(catalog);

export type ReservationRow = typeof reservations.$inferSelect;

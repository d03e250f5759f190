/**
 * Loads the demo catalog into an empty catalog schema (a catalog that has products is left alone).
 * CLI: `pnpm db:seed` with DATABASE_URL set.
 */
import { v5 as uuidv5 } from 'uuid';
import { inTransaction, type Db } from '@securecart/db';
import { categories, products } from './schema.ts';
import { countProducts } from './products-repo.ts';
import { generateDemoCatalog } from './seed-data.ts';

/** Demo product ids are derived from their SKU, so they are the same on every machine. */
const DEMO_NAMESPACE = '3f8b7d8e-6a55-4f7c-9a62-0c2d5f0e9b11';

export async function seedDemoCatalog(db: Db): Promise<number> {
  if ((await countProducts(db)) > 0) return 0;
  const demo = generateDemoCatalog();
  await inTransaction(db, async (tx) => {
    await tx.insert(categories).values(demo.categories).onConflictDoNothing();
    await tx
      .insert(products)
      .values(
        demo.products.map((p) => ({
          ...p,
          id: uuidv5(p.sku, DEMO_NAMESPACE),
          description: p.description ?? '',
          imageUrl: p.imageUrl ?? null,
        })),
      )
      .onConflictDoNothing();
  });
  return demo.products.length;
}

if (import.meta.main) {
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const { createPool } = await import('@securecart/db');
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('db:seed: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/securecart)');
    process.exit(1);
  }
  const pool = createPool(url, { name: 'catalog-seed', ca: process.env.DATABASE_CA || undefined });
  const inserted = await seedDemoCatalog(drizzle(pool));
  console.log(inserted > 0 ? `db:seed: inserted ${inserted} demo products` : 'db:seed: the catalog already has products; left alone');
  await pool.end();
}

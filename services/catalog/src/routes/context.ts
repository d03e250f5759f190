import type { Cache } from '@securecart/cache';
import type { ReplicaRouter } from '@securecart/db';

/** What every catalog route plugin is given. */
export interface CatalogRouteContext {
  db: ReplicaRouter;
  cache: Cache;
  cacheTtlSeconds: number;
  /** data changed less than this long ago is read from the primary (the replica may not have it yet) */
  freshWindowMs: number;
}

/** Cache tags: every product write bumps both, so lists, categories and the product itself move on. */
export const tags = {
  products: 'catalog:products',
  product: (id: string) => `catalog:product:${id}`,
};

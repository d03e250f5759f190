/**
 * Pure catalog logic: the public representation of a product, search terms, list cursors, ETags.
 */
import { createHash } from 'node:crypto';
import type { Product, ProductSnapshot } from '@securecart/contracts';
import { decodeCursor, encodeCursor } from '@securecart/contracts';
import type { ProductRow } from '../db/schema.ts';

export function toProduct(row: ProductRow): Product {
  return {
    id: row.id,
    sku: row.sku,
    slug: row.slug,
    name: row.name,
    description: row.description,
    priceCents: row.priceCents,
    currency: row.currency,
    category: row.category,
    imageUrl: row.imageUrl,
    stock: row.stock,
    status: row.status,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function toSnapshot(row: ProductRow): ProductSnapshot {
  return {
    id: row.id,
    sku: row.sku,
    name: row.name,
    priceCents: row.priceCents,
    currency: row.currency,
    stock: row.stock,
    status: row.status,
  };
}

/** "Wireless head-phones!" -> "wireless:* & head:* & phones:*": every word, as a prefix, must match. */
export function searchTerms(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).slice(0, 8).map((w) => `${w}:*`);
}

/** "home-and-garden" -> "Home And Garden", for categories created implicitly by a product. */
export function categoryName(slug: string): string {
  return slug
    .split('-')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join(' ');
}

export interface ListPosition {
  name: string;
  id: string;
}

export const encodeListCursor = (position: ListPosition): string => encodeCursor([position.name, position.id]);

export function decodeListCursor(cursor: string): ListPosition | undefined {
  const value = decodeCursor(cursor);
  if (!Array.isArray(value) || value.length !== 2) return undefined;
  const [name, id] = value as unknown[];
  // a name with U+0000 cannot be a product's (Postgres refuses it, even as a query parameter): not a cursor we issued
  if (typeof name !== 'string' || name.includes('\u0000') || typeof id !== 'string' || !UUID.test(id)) return undefined;
  return { name, id };
}

export const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function etagOf(body: string): string {
  return `"${createHash('sha1').update(body).digest('base64url').slice(0, 22)}"`;
}

/** If-None-Match may list several tags, weak or strong; `*` matches anything. */
export function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((candidate) => {
    const tag = candidate.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}

import { describe, expect, it } from 'vitest';
import { categoryName, decodeListCursor, encodeListCursor, etagOf, matchesEtag, searchTerms } from '../src/domain/product.ts';
import { generateDemoCatalog } from '../src/db/seed-data.ts';

describe('catalog domain', () => {
  it('turns free text into a prefix query over its words', () => {
    expect(searchTerms('Wireless head-phones!')).toEqual(['wireless:*', 'head:*', 'phones:*']);
    expect(searchTerms("'); drop table x; --")).toEqual(['drop:*', 'table:*', 'x:*']);
    expect(searchTerms('!!!')).toEqual([]);
  });

  it('round-trips list cursors and refuses forged ones', () => {
    const position = { name: 'Kettle', id: '0190a0b0-0000-7000-8000-000000000001' };
    expect(decodeListCursor(encodeListCursor(position))).toEqual(position);
    expect(decodeListCursor('bm9wZQ')).toBeUndefined();
    expect(decodeListCursor(Buffer.from('["x","not-a-uuid"]').toString('base64url'))).toBeUndefined();
  });

  it('refuses a list cursor whose name holds U+0000: no product has one, and Postgres refuses it as a parameter (it was a 500)', () => {
    expect(decodeListCursor(encodeListCursor({ name: 'Ket\u0000tle', id: '0190a0b0-0000-7000-8000-000000000001' }))).toBeUndefined();
  });

  it('matches If-None-Match lists, weak tags and *', () => {
    const tag = etagOf('{"a":1}');
    expect(matchesEtag(tag, tag)).toBe(true);
    expect(matchesEtag(`"other", W/${tag}`, tag)).toBe(true);
    expect(matchesEtag('*', tag)).toBe(true);
    expect(matchesEtag('"other"', tag)).toBe(false);
    expect(matchesEtag(undefined, tag)).toBe(false);
  });

  it('names a category from its slug', () => {
    expect(categoryName('home-and-garden')).toBe('Home And Garden');
  });

  it('generates the same demo catalog every time: 240 products, unique skus and slugs, 8 categories', () => {
    const one = generateDemoCatalog();
    expect(one).toEqual(generateDemoCatalog());
    expect(one.products).toHaveLength(240);
    expect(new Set(one.products.map((p) => p.slug)).size).toBe(240);
    expect(new Set(one.products.map((p) => p.sku)).size).toBe(240);
    expect(one.categories).toHaveLength(8);
    expect(one.products.every((p) => p.priceCents > 0 && /^[a-z0-9]+(-[a-z0-9]+)*$/.test(p.slug))).toBe(true);
  });
});

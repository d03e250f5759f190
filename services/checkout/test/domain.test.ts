import { describe, expect, it } from 'vitest';
import type { ProductSnapshot } from '@securecart/contracts';
import { canonicalJson, orderIdFor, requestHash, submittedEventIdFor } from '../src/domain/idempotency.ts';
import { checkoutProblem, priceCart } from '../src/domain/pricing.ts';

const snap = (id: string, over: Partial<ProductSnapshot> = {}): ProductSnapshot => ({
  id, sku: `S-${id}`, name: `N-${id}`, priceCents: 100, currency: 'USD', stock: 5, status: 'active', ...over,
});

describe('pricing', () => {
  it('prices available lines from the snapshots and sums them', () => {
    const cart = priceCart(new Map([['a', 2], ['b', 1]]), new Map([['a', snap('a', { priceCents: 250 })], ['b', snap('b')]]));
    expect(cart.subtotalCents).toBe(600);
    expect(cart.items.map((i) => i.lineTotalCents)).toEqual([500, 100]);
    expect(checkoutProblem(cart)).toBeUndefined();
  });

  it('marks archived and vanished products unavailable, outside the subtotal, and refuses to check them out', () => {
    const cart = priceCart(new Map([['a', 1], ['gone', 1], ['old', 1]]), new Map([['a', snap('a')], ['old', snap('old', { status: 'archived' })]]));
    expect(cart.subtotalCents).toBe(100);
    expect(checkoutProblem(cart)).toEqual({ kind: 'unavailable', productIds: expect.arrayContaining(['gone', 'old']) });
  });

  it('refuses an empty cart and one that mixes currencies', () => {
    expect(checkoutProblem(priceCart(new Map(), new Map()))).toEqual({ kind: 'empty' });
    const mixed = priceCart(new Map([['a', 1], ['b', 1]]), new Map([['a', snap('a')], ['b', snap('b', { currency: 'EUR' })]]));
    expect(checkoutProblem(mixed)?.kind).toBe('mixed-currencies');
  });
});

describe('idempotency', () => {
  it('derives one order id per (customer, key), and different ids otherwise', () => {
    expect(orderIdFor('c1', 'k')).toBe(orderIdFor('c1', 'k'));
    expect(orderIdFor('c1', 'k')).not.toBe(orderIdFor('c2', 'k'));
    expect(orderIdFor('c1', 'k')).not.toBe(orderIdFor('c1', 'k2'));
    expect(orderIdFor('a:b', 'c')).not.toBe(orderIdFor('a', 'b:c')); // no ambiguity at the separator
    expect(submittedEventIdFor(orderIdFor('c1', 'k'))).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('hashes equal bodies equally whatever their key order, and different bodies differently', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 1, e: 2 }], c: 'x' } })).toBe('{"a":{"c":"x","d":[1,{"e":2,"f":1}]},"b":1}');
    expect(requestHash({ a: 1, b: 2 })).toBe(requestHash({ b: 2, a: 1 }));
    expect(requestHash({ a: 1 })).not.toBe(requestHash({ a: 2 }));
  });
});

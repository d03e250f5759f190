import { describe, expect, it } from 'vitest';
import { routeFor } from '../src/rules.ts';

describe('edge path rules', () => {
  it.each([
    ['/api/catalog/products', 'catalog'],
    ['/api/catalog/products/abc?x=1', 'catalog'],
    ['/api/cart', 'checkout'],
    ['/api/cart/items/123', 'checkout'],
    ['/api/checkout', 'checkout'],
    ['/api/orders', 'orders'],
    ['/api/orders/1/events', 'orders'],
    ['/api/admin/orders?status=PLACED', 'orders'],
  ])('routes %s to %s', (path, service) => {
    expect(routeFor(path)).toBe(service);
  });

  it.each(['/internal/products/lookup', '/api/cartoon', '/api/catalogue', '/api', '/', '/health/ready', '/api/admin/ordersx'])(
    'routes %s nowhere',
    (path) => {
      expect(routeFor(path)).toBeUndefined();
    },
  );
});

/**
 * The edge's path rules: the same table drives the local edge, and (later) the nginx configuration of the
 * compose mode and the `http.path` of the Copilot manifests, so they cannot disagree. No business logic here.
 */
export type ServiceName = 'catalog' | 'checkout' | 'orders';

export interface EdgeRule {
  service: ServiceName;
  /** a prefix matches itself and everything below it: /api/cart matches /api/cart and /api/cart/items/1 */
  prefixes: string[];
}

export const EDGE_RULES: readonly EdgeRule[] = [
  { service: 'catalog', prefixes: ['/api/catalog'] },
  { service: 'checkout', prefixes: ['/api/cart', '/api/checkout'] },
  { service: 'orders', prefixes: ['/api/orders', '/api/admin/orders'] },
];

/** Which service a path goes to, or undefined: internal routes (/internal/...) never match. */
export function routeFor(path: string): ServiceName | undefined {
  const clean = path.split('?')[0] ?? '';
  for (const rule of EDGE_RULES) {
    if (rule.prefixes.some((prefix) => clean === prefix || clean.startsWith(`${prefix}/`))) return rule.service;
  }
  return undefined;
}

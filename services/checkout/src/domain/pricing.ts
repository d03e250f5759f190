/**
 * Prices a cart from catalog snapshots: never from anything the client sent. Pure.
 */
import type { Cart, CartLine, ProductSnapshot } from '@securecart/contracts';

export function priceCart(quantities: Map<string, number>, snapshots: Map<string, ProductSnapshot>): Cart {
  const items: CartLine[] = [];
  for (const [productId, quantity] of quantities) {
    const product = snapshots.get(productId);
    const available = product?.status === 'active';
    const unitPriceCents = product?.priceCents ?? 0;
    items.push({
      productId,
      sku: product?.sku ?? '',
      name: product?.name ?? 'No longer available',
      quantity,
      unitPriceCents,
      lineTotalCents: available ? unitPriceCents * quantity : 0,
      currency: product?.currency ?? '',
      available,
    });
  }
  items.sort((a, b) => a.name.localeCompare(b.name) || a.productId.localeCompare(b.productId));
  const availableLines = items.filter((i) => i.available);
  return {
    items,
    subtotalCents: availableLines.reduce((sum, i) => sum + i.lineTotalCents, 0),
    currency: availableLines[0]?.currency ?? null,
  };
}

export type CheckoutProblem =
  | { kind: 'empty' }
  | { kind: 'unavailable'; productIds: string[] }
  | { kind: 'mixed-currencies'; currencies: string[] };

/** What stops a priced cart from becoming an order, if anything. */
export function checkoutProblem(cart: Cart): CheckoutProblem | undefined {
  if (cart.items.length === 0) return { kind: 'empty' };
  const unavailable = cart.items.filter((i) => !i.available).map((i) => i.productId);
  if (unavailable.length > 0) return { kind: 'unavailable', productIds: unavailable };
  const currencies = [...new Set(cart.items.map((i) => i.currency))];
  if (currencies.length > 1) return { kind: 'mixed-currencies', currencies };
  return undefined;
}

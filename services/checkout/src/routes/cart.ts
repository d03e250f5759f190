/**
 * The customer's cart: read it priced, set a line's quantity (0 removes it), empty it. Adding checks with catalog
 * that the product exists and is active; the price shown is catalog's, never the client's.
 */

import { Cart, ProductIdParams, SetCartQuantity } from '@securecart/contracts';
import { conflict, notFound, ProblemResponse, requireCustomer, type App } from '@securecart/http-kit';
import { priceCart } from '../domain/pricing.ts';
import { MAX_CART_LINES, type CheckoutRouteContext } from './context.ts';

const errors = { 400: ProblemResponse, 401: ProblemResponse, 503: ProblemResponse };
const security = [{ bearer: [] }];

export async function cartRoutes(app: App, ctx: CheckoutRouteContext): Promise<void> {
  const pricedCart = async (customerId: string) => {
    const quantities = await ctx.carts.get(customerId);
    return priceCart(quantities, await ctx.catalog.lookup([...quantities.keys()]));
  };

  app.get(
    '/api/cart',
    { onRequest: requireCustomer, schema: { tags: ['cart'], summary: 'The cart, priced by catalog', security, response: { 200: Cart, ...errors } } },
    async (request) => pricedCart(request.user!.sub),
  );

  app.put(
    '/api/cart/items/:productId',
    {
      onRequest: requireCustomer,
      schema: {
        tags: ['cart'],
        summary: 'Set the quantity of a product in the cart (0 removes it)',
        security,
        params: ProductIdParams,
        body: SetCartQuantity,
        response: { 200: Cart, 404: ProblemResponse, 409: ProblemResponse, ...errors },
      },
    },
    async (request) => {
      const customerId = request.user!.sub;
      const productId = request.params.productId.toLowerCase();
      const { quantity } = request.body;
      if (quantity > 0) {
        const [current, snapshots] = await Promise.all([ctx.carts.get(customerId), ctx.catalog.lookup([productId])]);
        const product = snapshots.get(productId);
        if (!product) throw notFound(`No product ${productId}`);
        if (product.status !== 'active') throw conflict(`Product ${productId} is no longer sold`, 'product-unavailable');
        if (!current.has(productId) && current.size >= MAX_CART_LINES) {
          throw conflict(`A cart holds at most ${MAX_CART_LINES} different products`, 'cart-full');
        }
      }
      await ctx.carts.set(customerId, productId, quantity);
      return pricedCart(customerId);
    },
  );

  app.delete(
    '/api/cart',
    { onRequest: requireCustomer, schema: { tags: ['cart'], summary: 'Empty the cart', security, response: { 200: Cart, ...errors } } },
    async (request) => {
      await ctx.carts.clear(request.user!.sub);
      return { items: [], subtotalCents: 0, currency: null };
    },
  );

}

/** Carts and checkout: what customers send and get back. Prices always come from catalog. */
import { Type, type Static } from 'typebox';
import { Address, Contact } from './events.ts';

export const ProductIdParams = Type.Object({ productId: Type.String({ format: 'uuid' }) });

export const SetCartQuantity = Type.Object(
  { quantity: Type.Integer({ minimum: 0, maximum: 99, description: '0 removes the line' }) },
  { additionalProperties: false },
);

export const CartLine = Type.Object({
  productId: Type.String({ format: 'uuid' }),
  sku: Type.String(),
  name: Type.String(),
  quantity: Type.Integer(),
  unitPriceCents: Type.Integer(),
  lineTotalCents: Type.Integer(),
  currency: Type.String(),
  available: Type.Boolean({ description: 'false when the product was archived or removed since it was added' }),
});

export const Cart = Type.Object(
  {
    items: Type.Array(CartLine),
    subtotalCents: Type.Integer({ description: 'sum of the available lines' }),
    currency: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: 'Cart' },
);
export type Cart = Static<typeof Cart>;
export type CartLine = Static<typeof CartLine>;

export const CheckoutRequest = Type.Object(
  {
    shippingAddress: Address,
    paymentToken: Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: '^tok_[A-Za-z0-9_]+$',
      description: 'a token the payment gateway authorised before checkout (tok_approve, tok_decline, ... locally)',
    }),
    contact: Contact,
  },
  { additionalProperties: false },
);
export type CheckoutRequest = Static<typeof CheckoutRequest>;

export const CheckoutAccepted = Type.Object({
  orderId: Type.String({ format: 'uuid' }),
  status: Type.Literal('PENDING'),
  statusUrl: Type.String(),
});
export type CheckoutAccepted = Static<typeof CheckoutAccepted>;

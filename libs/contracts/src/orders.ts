/**
 * The orders API's DTOs: an order as its customer or an admin sees it, the list pages, and the
 * bodies of cancel and refund. Bodies refuse unknown fields.
 */
import { Type, type Static } from 'typebox';
import { Address, Contact } from './events.ts';
import { PageQuery } from './pagination.ts';

export const OrderStatus = Type.Union(
  [
    Type.Literal('PLACED'),
    Type.Literal('CONFIRMED'),
    Type.Literal('SHIPPED'),
    Type.Literal('REJECTED'),
    Type.Literal('CANCELLED'),
    Type.Literal('REFUNDED'),
  ],
  { description: 'PLACED → CONFIRMED → SHIPPED; PLACED → REJECTED; PLACED|CONFIRMED → CANCELLED; CONFIRMED|SHIPPED → REFUNDED' },
);

export const OrderItem = Type.Object({
  productId: Type.String({ format: 'uuid' }),
  sku: Type.String(),
  name: Type.String(),
  quantity: Type.Integer(),
  unitPriceCents: Type.Integer({ description: 'integer minor units, as priced at checkout' }),
});

export const OrderStatusChange = Type.Object({
  status: OrderStatus,
  reason: Type.Union([Type.String(), Type.Null()]),
  at: Type.String({ format: 'date-time' }),
});

export const Order = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    customerId: Type.String(),
    status: OrderStatus,
    reason: Type.Union([Type.String(), Type.Null()], { description: 'why the order was rejected, cancelled or refunded' }),
    items: Type.Array(OrderItem),
    totalCents: Type.Integer(),
    currency: Type.String(),
    shippingAddress: Address,
    contact: Contact,
    statusHistory: Type.Array(OrderStatusChange, { description: 'oldest first; the first entry is PLACED' }),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Order' },
);
export type Order = Static<typeof Order>;

export const OrderSummary = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    customerId: Type.String(),
    status: OrderStatus,
    itemCount: Type.Integer({ description: 'units across all lines' }),
    totalCents: Type.Integer(),
    currency: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'OrderSummary' },
);
export type OrderSummary = Static<typeof OrderSummary>;

export const OrderListQuery = Type.Object({ ...PageQuery }, { additionalProperties: false });
export type OrderListQuery = Static<typeof OrderListQuery>;

export const AdminOrderListQuery = Type.Object({ status: Type.Optional(OrderStatus), ...PageQuery }, { additionalProperties: false });
export type AdminOrderListQuery = Static<typeof AdminOrderListQuery>;

const Reason = Type.String({ minLength: 1, maxLength: 500 });

/** The body of POST /api/orders/:id/cancel; it may be omitted. */
export const CancelOrder = Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false });
export type CancelOrder = Static<typeof CancelOrder>;

/** The body of POST /api/admin/orders/:id/refund; it may be omitted. The whole total is refunded. */
export const RefundOrder = Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false });
export type RefundOrder = Static<typeof RefundOrder>;

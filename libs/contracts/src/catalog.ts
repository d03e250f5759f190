import { Type, type Static } from 'typebox';
import { PageQuery } from './pagination.ts';

const Slug = Type.String({ minLength: 1, maxLength: 120, pattern: '^[a-z0-9]+(?:-[a-z0-9]+)*$' });
const Sku = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });
const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' });
const Money = Type.Integer({ minimum: 0, maximum: 100_000_000, description: 'integer minor units' });
const Stock = Type.Integer({ minimum: 0, maximum: 10_000_000 });
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Description = Type.String({ maxLength: 5000 });
const ImageUrl = Type.Union([Type.String({ maxLength: 2048, pattern: '^https?://\\S+$' }), Type.Null()]);
export const ProductStatus = Type.Union([Type.Literal('active'), Type.Literal('archived')]);

export const Product = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    sku: Type.String(),
    slug: Type.String(),
    name: Type.String(),
    description: Type.String(),
    priceCents: Type.Integer(),
    currency: Type.String(),
    category: Type.String({ description: 'category slug' }),
    imageUrl: Type.Union([Type.String(), Type.Null()]),
    stock: Type.Integer(),
    status: ProductStatus,
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Product' },
);
export type Product = Static<typeof Product>;

export const CreateProduct = Type.Object(
  {
    sku: Sku,
    slug: Slug,
    name: Name,
    description: Type.Optional(Description),
    priceCents: Money,
    currency: Type.Optional(Currency),
    category: Slug,
    imageUrl: Type.Optional(ImageUrl),
    stock: Type.Optional(Stock),
  },
  { additionalProperties: false },
);
export type CreateProduct = Static<typeof CreateProduct>;

export const UpdateProduct = Type.Object(
  {
    sku: Type.Optional(Sku),
    slug: Type.Optional(Slug),
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    priceCents: Type.Optional(Money),
    currency: Type.Optional(Currency),
    category: Type.Optional(Slug),
    imageUrl: Type.Optional(ImageUrl),
    status: Type.Optional(ProductStatus),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateProduct = Static<typeof UpdateProduct>;

export const SetStock = Type.Object({ stock: Stock }, { additionalProperties: false });

export const ProductListQuery = Type.Object(
  {
    category: Type.Optional(Slug),
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    ...PageQuery,
  },
  { additionalProperties: false },
);
export type ProductListQuery = Static<typeof ProductListQuery>;

export const Category = Type.Object({ slug: Type.String(), name: Type.String(), productCount: Type.Integer() });
export const CategoryList = Type.Object({ items: Type.Array(Category) });

/** Internal: checkout prices a cart from this (never from the client). */
export const ProductLookupRequest = Type.Object(
  { ids: Type.Array(Type.String({ format: 'uuid' }), { minItems: 1, maxItems: 100, uniqueItems: true }) },
  { additionalProperties: false },
);
export const ProductSnapshot = Type.Object({
  id: Type.String({ format: 'uuid' }),
  sku: Type.String(),
  name: Type.String(),
  priceCents: Type.Integer(),
  currency: Type.String(),
  stock: Type.Integer(),
  status: ProductStatus,
});
export type ProductSnapshot = Static<typeof ProductSnapshot>;
export const ProductLookupResponse = Type.Object({
  items: Type.Array(ProductSnapshot),
  missing: Type.Array(Type.String({ format: 'uuid' }), { description: 'ids that do not exist' }),
});

/** Internal: the fulfillment saga reserves an order's stock (all lines or none), idempotently per order id. */
export const ReservationLine = Type.Object(
  {
    productId: Type.String({ format: 'uuid' }),
    quantity: Type.Integer({ minimum: 1, maximum: 10_000 }),
  },
  { additionalProperties: false },
);
export const ReserveStockRequest = Type.Object(
  {
    orderId: Type.String({ format: 'uuid' }),
    lines: Type.Array(ReservationLine, { minItems: 1, maxItems: 100 }),
  },
  { additionalProperties: false },
);
export type ReserveStockRequest = Static<typeof ReserveStockRequest>;
export const ReservationStatus = Type.Union([Type.Literal('RESERVED'), Type.Literal('RELEASED'), Type.Literal('COMMITTED')]);
export const Reservation = Type.Object({
  orderId: Type.String({ format: 'uuid' }),
  status: ReservationStatus,
  lines: Type.Array(Type.Object({ productId: Type.String({ format: 'uuid' }), quantity: Type.Integer() })),
});
export type Reservation = Static<typeof Reservation>;

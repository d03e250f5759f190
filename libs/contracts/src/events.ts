/**
 * SecureCart's integration events: one TypeBox schema per event type and version. They are the single source
 * of the CloudEvents `data` validation, the TypeScript types, and the generated JSON Schemas and AsyncAPI document
 * (docs/events/). A change that would break a consumer is a new version: add `com.securecart.x.y` v2 beside v1.
 */
import { Type, type Static, type TSchema } from 'typebox';

const Uuid = Type.String({ format: 'uuid' });
const Money = Type.Integer({ minimum: 0 });
const Currency = Type.String({ pattern: '^[A-Z]{3}$' });

export const Address = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    line1: Type.String({ minLength: 1, maxLength: 200 }),
    line2: Type.Optional(Type.String({ maxLength: 200 })),
    city: Type.String({ minLength: 1, maxLength: 100 }),
    region: Type.Optional(Type.String({ maxLength: 100 })),
    postalCode: Type.String({ minLength: 1, maxLength: 20 }),
    country: Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2' }),
  },
  { additionalProperties: false },
);

export const Contact = Type.Object(
  {
    email: Type.Optional(Type.String({ format: 'email', maxLength: 254 })),
    phone: Type.Optional(Type.String({ pattern: '^\\+[1-9][0-9]{6,14}$', description: 'E.164' })),
  },
  { additionalProperties: false },
);

export const OrderLine = Type.Object({
  productId: Uuid,
  sku: Type.String(),
  name: Type.String(),
  quantity: Type.Integer({ minimum: 1 }),
  unitPriceCents: Money,
});

const OrderRef = { orderId: Uuid, customerId: Type.String() };

/** What checkout submits and intake places: the whole order, priced, with the token fulfillment will capture. */
const OrderContents = {
  ...OrderRef,
  lines: Type.Array(OrderLine, { minItems: 1 }),
  totalCents: Money,
  currency: Currency,
  shippingAddress: Address,
  contact: Contact,
  paymentToken: Type.String(),
};

export const EventData = {
  'order.submitted': Type.Object({ ...OrderContents, submittedAt: Type.String({ format: 'date-time' }) }),
  'order.placed': Type.Object(OrderContents),
  'order.confirmed': Type.Object({ ...OrderRef, contact: Contact, totalCents: Money, currency: Currency }),
  'order.shipped': Type.Object({ ...OrderRef, contact: Contact, carrier: Type.String(), trackingNumber: Type.String() }),
  'order.rejected': Type.Object({ ...OrderRef, contact: Contact, reason: Type.String() }),
  'order.cancelled': Type.Object({ ...OrderRef, contact: Contact, reason: Type.String() }),
  'order.refunded': Type.Object({ ...OrderRef, contact: Contact, amountCents: Money, currency: Currency }),
  'inventory.reserved': Type.Object({ orderId: Uuid, reservationId: Type.String() }),
  'payment.captured': Type.Object({ orderId: Uuid, paymentId: Type.String(), amountCents: Money, currency: Currency }),
  'shipment.created': Type.Object({ orderId: Uuid, shipmentId: Type.String(), carrier: Type.String(), trackingNumber: Type.String() }),
  'fulfillment.failed': Type.Object({
    orderId: Uuid,
    step: Type.Union([Type.Literal('fraud'), Type.Literal('reserve-stock'), Type.Literal('capture-payment'), Type.Literal('create-shipment')]),
    reason: Type.String(),
  }),
  'fulfillment.compensated': Type.Object({ orderId: Uuid, voidedPayment: Type.Boolean(), releasedStock: Type.Boolean() }),
  'product.created': Type.Object({ productId: Uuid, sku: Type.String(), slug: Type.String(), priceCents: Money, currency: Currency }),
  'product.updated': Type.Object({ productId: Uuid, changes: Type.Array(Type.String()) }),
  'product.archived': Type.Object({ productId: Uuid }),
  'stock.changed': Type.Object({ productId: Uuid, stock: Type.Integer({ minimum: 0 }), reason: Type.String() }),
} satisfies Record<string, TSchema>;

export type EventName = keyof typeof EventData;
export type EventPayload<N extends EventName> = Static<(typeof EventData)[N]>;

/** `order.placed` -> `com.securecart.order.placed` */
export const eventType = (name: EventName): string => `com.securecart.${name}`;
export const EVENT_VERSION = 1;
export const dataSchemaUri = (name: EventName, version = EVENT_VERSION) =>
  `https://securecart.dev/schemas/events/${name}/v${version}.json`;

export const EVENT_NAMES = Object.keys(EventData) as EventName[];

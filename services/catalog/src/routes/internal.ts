/**
 * Internal routes, reached by other services over the private network and never routed by the edge or the ALB.
 * Checkout prices carts from here (the client's idea of a price is never used); the fulfillment saga reserves,
 * releases and commits an order's stock here. Every reservation route is idempotent per order id, so a caller
 * that timed out simply asks again.
 */
import { Type } from 'typebox';
import { ProductLookupRequest, ProductLookupResponse, Reservation, ReserveStockRequest } from '@securecart/contracts';
import { conflict, notFound, ProblemResponse, type App } from '@securecart/http-kit';
import { findProductsByIds } from '../db/products-repo.ts';
import {
  commitReservation, findReservation, releaseStock, reserveStock, ReservationConflict, StockUnavailable, type ReservationOutcome,
} from '../db/reservations-repo.ts';
import type { ReservationRow } from '../db/schema.ts';
import { toSnapshot } from '../domain/product.ts';
import { tags, type CatalogRouteContext } from './context.ts';

const OrderParams = Type.Object({ orderId: Type.String({ format: 'uuid' }) });
const toReservation = (row: ReservationRow) => ({ orderId: row.orderId, status: row.status, lines: row.lines });

export async function internalRoutes(app: App, ctx: CatalogRouteContext): Promise<void> {
  app.post(
    '/internal/products/lookup',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['internal'],
        summary: 'Prices and stock of many products at once (for checkout)',
        body: ProductLookupRequest,
        response: { 200: ProductLookupResponse },
      },
    },
    async (request) => {
      const ids = request.body.ids.map((id) => id.toLowerCase());
      let rows = await ctx.db.read((db) => findProductsByIds(db, ids));
      if (rows.length < ids.length) {
        // Products created a moment ago may not have reached the replica: ask the primary before saying "missing".
        rows = await ctx.db.read((db) => findProductsByIds(db, ids), { fresh: true });
      }
      const found = new Set(rows.map((r) => r.id));
      return { items: rows.map(toSnapshot), missing: ids.filter((id) => !found.has(id)) };
    },
  );

  // Stock moved: the product pages and lists that show it move on (tags), like an admin's stock change.
  const moved = async (outcome: ReservationOutcome) => {
    if (outcome.changedProductIds.length > 0) await ctx.cache.invalidate([tags.products, ...outcome.changedProductIds.map(tags.product)]);
    return toReservation(outcome.reservation);
  };
  const refused = (error: unknown): never => {
    if (error instanceof StockUnavailable) throw conflict(error.message, error.reason);
    if (error instanceof ReservationConflict) throw conflict(error.message, 'reservation-conflict');
    throw error;
  };
  const reservationResponses = { 200: Reservation, 400: ProblemResponse, 409: ProblemResponse };

  app.post(
    '/internal/reservations',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['internal'],
        summary: "Reserve all lines of an order's stock, or none (idempotent per orderId)",
        description:
          'Answers 200 with the reservation. A repeat for the same orderId returns the reservation as it is now and takes nothing more. ' +
          '409 `insufficient-stock`, `archived` or `unknown-product` when a line cannot be reserved: then nothing was taken.',
        body: ReserveStockRequest,
        response: reservationResponses,
      },
    },
    async (request) => moved(await reserveStock(ctx.db.primary, request.body.orderId.toLowerCase(), request.body.lines).catch(refused)),
  );

  app.post(
    '/internal/reservations/:orderId/release',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['internal'],
        summary: "Put an order's reserved stock back (idempotent)",
        description: 'Releasing an unknown order leaves a released tombstone, so a reservation arriving later takes nothing. 409 once shipped (committed).',
        params: OrderParams,
        response: reservationResponses,
      },
    },
    async (request) => moved(await releaseStock(ctx.db.primary, request.params.orderId.toLowerCase()).catch(refused)),
  );

  app.post(
    '/internal/reservations/:orderId/commit',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['internal'],
        summary: "Make an order's reservation final: it has shipped (idempotent)",
        params: OrderParams,
        response: reservationResponses,
      },
    },
    async (request) => toReservation(await commitReservation(ctx.db.primary, request.params.orderId.toLowerCase()).catch(refused)),
  );

  app.get(
    '/internal/reservations/:orderId',
    {
      config: { rateLimit: false },
      schema: { tags: ['internal'], summary: "An order's reservation", params: OrderParams, response: { 200: Reservation, 404: ProblemResponse } },
    },
    async (request) => {
      const row = await findReservation(ctx.db.primary, request.params.orderId.toLowerCase());
      if (!row) throw notFound(`No reservation for order ${request.params.orderId}`);
      return toReservation(row);
    },
  );
}

/**
 * A customer's own orders: the list (newest first, cursor pagination), one order with its history, and cancel.
 * An order that is not the caller's does not exist for them: 404, never 403, so ids leak nothing. Reads go to the
 * replica (a miss is asked again of the primary, so an order placed a moment ago is found); a caller who has just
 * cancelled reads from the primary, and the cancel's own answer comes from the primary transaction.
 */
import { CancelOrder, Order, OrderListQuery, OrderSummary, Page } from '@securecart/contracts';
import { badRequest, notFound, ProblemResponse, requireCustomer, type App } from '@securecart/http-kit';
import { createEvent } from '@securecart/messaging';
import { findOrderWithHistory, listOrders } from '../db/orders-repo.ts';
import { transitionOrder } from '../db/transition-order.ts';
import { decodeListCursor, encodeListCursor, toOrder, toOrderSummary } from '../domain/order-view.ts';
import { asProblem, defaultEmptyBody, errors, IdParams, security, traceOf, type OrdersRouteContext } from './context.ts';

const OrderPage = Page(OrderSummary);

export async function orderRoutes(app: App, ctx: OrdersRouteContext): Promise<void> {
  app.get(
    '/api/orders',
    {
      onRequest: requireCustomer,
      schema: {
        tags: ['orders'],
        summary: 'The caller’s own orders, newest first',
        security,
        querystring: OrderListQuery,
        response: { 200: OrderPage, ...errors },
      },
    },
    async (request) => {
      const customerId = request.user!.sub;
      const limit = request.query.limit ?? 20;
      const { cursor } = request.query;
      const after = cursor ? decodeListCursor(cursor) : undefined;
      if (cursor && !after) throw badRequest('The cursor is not one this API returned', [{ in: 'querystring', path: '/cursor', message: 'is not a valid cursor' }]);
      const fresh = await ctx.recentWrites.has(customerId);
      const rows = await ctx.db.read((db) => listOrders(db, { customerId, limit, after }), { fresh });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return { items: page.map(toOrderSummary), nextCursor: rows.length > limit && last ? encodeListCursor(last) : null };
    },
  );

  app.get(
    '/api/orders/:id',
    {
      onRequest: requireCustomer,
      schema: {
        tags: ['orders'],
        summary: 'One order with its items and status history (its customer or an admin)',
        security,
        params: IdParams,
        response: { 200: Order, 404: ProblemResponse, ...errors },
      },
    },
    async (request) => {
      const user = request.user!;
      const id = request.params.id.toLowerCase();
      const fresh = await ctx.recentWrites.has(user.sub);
      const found = await ctx.db.readOrPrimary((db) => findOrderWithHistory(db, id), { fresh });
      if (!found || (!user.isAdmin && found.order.customerId !== user.sub)) throw notFound(`No order ${id}`);
      return toOrder(found);
    },
  );

  app.post(
    '/api/orders/:id/cancel',
    {
      onRequest: requireCustomer,
      preValidation: defaultEmptyBody,
      schema: {
        tags: ['orders'],
        summary: 'Cancel an order that has not shipped (PLACED or CONFIRMED)',
        description: 'The body is optional. Answers 409 when the order can no longer be cancelled.',
        security,
        params: IdParams,
        body: CancelOrder,
        response: { 200: Order, 404: ProblemResponse, 409: ProblemResponse, ...errors },
      },
    },
    async (request) => {
      const customerId = request.user!.sub;
      const reason = request.body.reason ?? 'cancelled by the customer';
      const trace = traceOf(request);
      const changed = await transitionOrder(ctx.db.primary, {
        orderId: request.params.id.toLowerCase(),
        to: 'CANCELLED',
        reason,
        visibleTo: (order) => order.customerId === customerId,
        event: (order) =>
          createEvent({
            name: 'order.cancelled',
            source: 'orders',
            subject: order.id,
            data: { orderId: order.id, customerId: order.customerId, contact: order.contact, reason },
            ...trace,
          }),
      }, { feed: ctx.feed, log: request.log }).catch(asProblem);
      await ctx.recentWrites.mark(customerId);
      return toOrder(changed);
    },
  );
}

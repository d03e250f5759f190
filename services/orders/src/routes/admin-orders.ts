/**
 * Administrators: every order, filtered by status, newest first; and refunds (CONFIRMED or SHIPPED → REFUNDED, the
 * whole total). Who may call is settled on onRequest, before the body is read: a customer gets 403 here.
 */
import { AdminOrderListQuery, Order, OrderSummary, Page, RefundOrder } from '@securecart/contracts';
import { badRequest, ProblemResponse, requireAdmin, type App } from '@securecart/http-kit';
import { createEvent } from '@securecart/messaging';
import { listOrders } from '../db/orders-repo.ts';
import { transitionOrder } from '../db/transition-order.ts';
import { decodeListCursor, encodeListCursor, toOrder, toOrderSummary } from '../domain/order-view.ts';
import { asProblem, defaultEmptyBody, errors, IdParams, security, traceOf, type OrdersRouteContext } from './context.ts';

const OrderPage = Page(OrderSummary);
const adminErrors = { ...errors, 403: ProblemResponse };

export async function adminOrderRoutes(app: App, ctx: OrdersRouteContext): Promise<void> {
  app.get(
    '/api/admin/orders',
    {
      onRequest: requireAdmin,
      schema: {
        tags: ['orders admin'],
        summary: 'All orders, newest first, optionally of one status',
        security,
        querystring: AdminOrderListQuery,
        response: { 200: OrderPage, ...adminErrors },
      },
    },
    async (request) => {
      const { status, cursor } = request.query;
      const limit = request.query.limit ?? 20;
      const after = cursor ? decodeListCursor(cursor) : undefined;
      if (cursor && !after) throw badRequest('The cursor is not one this API returned', [{ in: 'querystring', path: '/cursor', message: 'is not a valid cursor' }]);
      const fresh = await ctx.recentWrites.has(request.user!.sub);
      const rows = await ctx.db.read((db) => listOrders(db, { status, limit, after }), { fresh });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return { items: page.map(toOrderSummary), nextCursor: rows.length > limit && last ? encodeListCursor(last) : null };
    },
  );

  app.post(
    '/api/admin/orders/:id/refund',
    {
      onRequest: requireAdmin,
      preValidation: defaultEmptyBody,
      schema: {
        tags: ['orders admin'],
        summary: 'Refund the whole total of a CONFIRMED or SHIPPED order',
        description: 'The body is optional. Answers 409 when the order is in any other status.',
        security,
        params: IdParams,
        body: RefundOrder,
        response: { 200: Order, 404: ProblemResponse, 409: ProblemResponse, ...adminErrors },
      },
    },
    async (request) => {
      const reason = request.body.reason ?? 'refunded by an administrator';
      const trace = traceOf(request);
      const changed = await transitionOrder(ctx.db.primary, {
        orderId: request.params.id.toLowerCase(),
        to: 'REFUNDED',
        reason,
        visibleTo: () => true,
        event: (order) =>
          createEvent({
            name: 'order.refunded',
            source: 'orders',
            subject: order.id,
            data: { orderId: order.id, customerId: order.customerId, contact: order.contact, amountCents: order.totalCents, currency: order.currency },
            ...trace,
          }),
      }, { feed: ctx.feed, log: request.log }).catch(asProblem);
      await ctx.recentWrites.mark(request.user!.sub);
      return toOrder(changed);
    },
  );
}

/**
 * POST /api/checkout: stateless queue-based load leveling. Price the cart, derive the order id from
 * (customer, Idempotency-Key), claim the key, publish order.submitted, remember the answer, clear the ordered
 * lines, answer 202. Nothing is written to a database here: a flash sale fills a queue, not a connection pool.
 *
 * Retries with the same key and body get the same answer and no second order (the order id is the same, and the
 * intake's primary key holds); the same key with another body gets 422 before anything is published. If SNS cannot
 * be reached: 503 with Retry-After, the claim is given back and the cart is untouched, so a retry repairs it.
 */
import { randomBytes } from 'node:crypto';
import { Type } from 'typebox';
import { CheckoutAccepted, CheckoutRequest, type CheckoutAccepted as Accepted } from '@securecart/contracts';
import { badRequest, conflict, ProblemError, ProblemResponse, requireCustomer, serviceUnavailable, unprocessable, type App } from '@securecart/http-kit';
import { createEvent, PublishError, TRACEPARENT } from '@securecart/messaging';
import { currentTraceparent, tracingEnabled } from '@securecart/telemetry';
import { IDEMPOTENCY_KEY, orderIdFor, requestHash, submittedEventIdFor } from '../domain/idempotency.ts';
import { checkoutProblem, priceCart } from '../domain/pricing.ts';
import type { CheckoutRouteContext } from './context.ts';

const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ description: 'required: 1-255 printable ASCII characters; reuse it to retry' })),
  traceparent: Type.Optional(Type.String()),
});

export async function checkoutRoutes(app: App, ctx: CheckoutRouteContext): Promise<void> {
  app.post(
    '/api/checkout',
    {
      onRequest: requireCustomer,
      schema: {
        tags: ['checkout'],
        summary: 'Turn the cart into an order (asynchronously); Idempotency-Key required',
        security: [{ bearer: [] }],
        headers: IdempotencyHeaders,
        body: CheckoutRequest,
        response: {
          202: CheckoutAccepted,
          400: ProblemResponse,
          401: ProblemResponse,
          409: ProblemResponse,
          422: ProblemResponse,
          503: ProblemResponse,
        },
      },
    },
    async (request, reply) => {
      const customer = request.user!;
      const key = request.headers['idempotency-key'];
      if (!key || !IDEMPOTENCY_KEY.test(key)) {
        throw badRequest('The Idempotency-Key header is required: 1 to 255 printable ASCII characters', [
          { in: 'headers', path: '/idempotency-key', message: key ? 'is not 1-255 printable ASCII characters' : 'is required' },
        ]);
      }
      const hash = requestHash(request.body);
      const orderId = orderIdFor(customer.sub, key);
      const answer: Accepted = { orderId, status: 'PENDING', statusUrl: `/api/orders/${orderId}` };
      const sendAccepted = () => reply.code(202).header('location', answer.statusUrl).send(answer);

      const existing = await ctx.idempotency.get(customer.sub, key);
      if (existing && existing.hash !== hash) throw keyReused();
      if (existing?.state === 'completed') return sendAccepted();

      const claimed = await ctx.idempotency.claim(customer.sub, key, hash);
      if (!claimed) {
        const other = await ctx.idempotency.get(customer.sub, key);
        if (other && other.hash !== hash) throw keyReused();
        if (other?.state === 'completed') return sendAccepted();
        // A concurrent copy of this very request is under way: go on, it names the same order and event.
      }

      try {
        const quantities = await ctx.carts.get(customer.sub);
        const cart = priceCart(quantities, await ctx.catalog.lookup([...quantities.keys()]));
        const problem = checkoutProblem(cart);
        if (problem?.kind === 'empty') {
          // A concurrent copy may have just succeeded and emptied the cart: its answer is ours too.
          const done = await ctx.idempotency.get(customer.sub, key);
          if (done?.state === 'completed' && done.hash === hash) return sendAccepted();
          throw conflict('The cart is empty', 'empty-cart');
        }
        if (problem?.kind === 'unavailable') {
          throw conflict(`Some products are no longer sold: ${problem.productIds.join(', ')}`, 'product-unavailable');
        }
        if (problem?.kind === 'mixed-currencies') {
          throw conflict(`The cart mixes currencies (${problem.currencies.join(', ')})`, 'mixed-currencies');
        }

        const incoming = request.headers.traceparent;
        const event = createEvent({
          name: 'order.submitted',
          id: submittedEventIdFor(orderId),
          source: 'checkout',
          subject: orderId,
          traceparent: orderTraceparent(incoming),
          correlationId: request.id,
          data: {
            orderId,
            customerId: customer.sub,
            lines: cart.items.map((i) => ({ productId: i.productId, sku: i.sku, name: i.name, quantity: i.quantity, unitPriceCents: i.unitPriceCents })),
            totalCents: cart.subtotalCents,
            currency: cart.currency!,
            shippingAddress: request.body.shippingAddress,
            contact: { ...(customer.email ? { email: customer.email } : {}), ...request.body.contact },
            paymentToken: request.body.paymentToken,
            submittedAt: new Date().toISOString(),
          },
        });
        try {
          await ctx.publisher.publish(ctx.topicArn, [event]);
        } catch (error) {
          if (!(error instanceof PublishError)) throw error;
          request.log.warn({ err: error, orderId }, 'checkout could not publish order.submitted');
          throw serviceUnavailable('Orders cannot be accepted right now; retry with the same Idempotency-Key', 5);
        }
        // Published: the order is accepted, whatever happens next. If the key cannot be marked completed, it stays
        // pending (with the cart) and a retry publishes the same event again, which the intake places once.
        const bookkeeping = async () => {
          await ctx.idempotency.complete(customer.sub, key, hash, answer);
          await ctx.carts.removeOrdered(customer.sub, quantities);
        };
        await bookkeeping().catch((error: unknown) =>
          request.log.warn({ err: error, orderId }, 'order submitted, but its key or cart could not be updated'),
        );
        request.log.info({ orderId, totalCents: cart.subtotalCents }, 'order submitted');
        return sendAccepted();
      } catch (error) {
        if (claimed && error instanceof ProblemError) await ctx.idempotency.release(customer.sub, key);
        throw error;
      }
    },
  );
}

function keyReused() {
  return unprocessable('This Idempotency-Key was used with a different request', 'idempotency-key-reused');
}

/** With tracing on, the request's span (which continued an incoming traceparent); off: the caller's, or a new trace. */
function orderTraceparent(incoming: string | undefined): string {
  const current = tracingEnabled() ? currentTraceparent() : undefined;
  if (current) return current;
  return incoming && TRACEPARENT.test(incoming) ? incoming : newTraceparent();
}

function newTraceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}

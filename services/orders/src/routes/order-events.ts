/**
 * The live status of one of the caller's orders, as Server-Sent Events. Only its customer may
 * listen: anyone else, like a nonexistent id, gets 404, never 403. The stream starts with the current status (or,
 * with Last-Event-ID, with what came after that event), sends each change once and in order, and ends after a
 * status that ends it (status-events.ts). Who may call, the rate limit and the 404 are settled the usual way
 * before the response is taken over from Fastify (hijack) to be written as a stream; the app's close ends every
 * open stream, so a graceful shutdown is not held up by them.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { Type } from 'typebox';
import { notFound, ProblemResponse, requireCustomer, type App } from '@securecart/http-kit';
import { findStreamStart } from '../db/orders-repo.ts';
import { closesStream, streamCursor } from '../domain/status-events.ts';
import { errors, IdParams, security, type OrdersRouteContext } from './context.ts';
import { OpenStatusStreams, StatusStream, type StatusStreamTiming } from './status-stream.ts';

const StreamHeaders = Type.Object({
  'last-event-id': Type.Optional(
    Type.String({ pattern: '^[0-9]{1,15}$', description: 'The id of the last event received: the stream resumes after it (EventSource sends it when it reconnects)' }),
  ),
});

const DESCRIPTION = `Server-Sent Events (\`text/event-stream\`). Each status change is an event:

    event: status
    id: 42
    data: {"orderId":"…","status":"CONFIRMED","reason":null,"at":"2025-01-01T12:00:00.000Z"}

The first event is the current status; then every change follows once, in order. \`id\` is the status history entry's id: send it back as \`Last-Event-ID\` (EventSource does when it reconnects) to resume after it. A comment line \`: heartbeat\` comes every 15 s by default. The stream ends after SHIPPED, REJECTED, CANCELLED or REFUNDED has been sent; a refund may still follow SHIPPED, visible through GET /api/orders/{id}. Only the order's customer may listen.`;

export interface OrderEventsContext extends OrdersRouteContext {
  stream: StatusStreamTiming;
}

export async function orderEventRoutes(app: App, ctx: OrderEventsContext): Promise<void> {
  const open = new OpenStatusStreams();
  // preClose runs before the server stops accepting and waits for connections: an open stream would hold it.
  app.addHook('preClose', async () => open.endAll());

  app.get(
    '/api/orders/:id/events',
    {
      onRequest: requireCustomer,
      schema: {
        tags: ['orders'],
        summary: 'Live status of one of the caller’s orders (Server-Sent Events)',
        description: DESCRIPTION,
        security,
        params: IdParams,
        headers: StreamHeaders,
        response: {
          200: { description: 'An event stream of status changes', content: { 'text/event-stream': { schema: Type.String() } } },
          204: {
            description: 'After a resume (Last-Event-ID), the client already has the status that ends the stream: nothing more will come (EventSource stops reconnecting)',
            type: 'null',
          },
          404: ProblemResponse,
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const customerId = request.user!.sub;
      const orderId = request.params.id.toLowerCase();
      const header = request.headers['last-event-id'];
      const start = await findStreamStart(ctx.db.primary, orderId);
      if (!start || start.customerId !== customerId) throw notFound(`No order ${orderId}`);
      const cursor = streamCursor(start.latestHistoryId, header === undefined ? undefined : Number(header));
      if (cursor.resumed && cursor.after === start.latestHistoryId && closesStream(start.status)) return reply.code(204).send(null);

      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        ...(reply.getHeaders() as OutgoingHttpHeaders), // x-request-id and the security headers set on onRequest
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        // nginx (and proxies that honour it) must pass each event on at once, not buffer the response
        'x-accel-buffering': 'no',
      });
      raw.flushHeaders();
      const stream = new StatusStream({
        raw,
        primary: ctx.db.primary,
        orderId,
        after: cursor.after,
        feed: ctx.feed,
        log: request.log,
        ...ctx.stream,
      });
      open.start(stream, raw);
      return reply;
    },
  );
}

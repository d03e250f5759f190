/**
 * A SERVER span per request when tracing is on (@securecart/telemetry): it continues an incoming `traceparent`,
 * is named `<METHOD> <route pattern>`, and ends when the response has gone, failed on a 5xx. The route handler runs
 * with the span active, so what it publishes (checkout's order.submitted) carries on the same trace.
 *
 * Why preHandler: Fastify calls the handler synchronously from the last preHandler's `done`, after the body has been
 * read; running `done` inside the span's context is what makes the handler's whole async chain see it (the body's
 * stream events would have lost a context entered in onRequest).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { startSpan, withSpan, type SpanHandle } from '@securecart/telemetry';

const spans = new WeakMap<FastifyRequest, SpanHandle>();

export function installTracing(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions.url;
    const incoming = request.headers.traceparent;
    spans.set(
      request,
      startSpan(route ? `${request.method} ${route}` : request.method, {
        kind: 'server',
        parent: typeof incoming === 'string' ? incoming : undefined,
        attributes: { 'http.request.method': request.method, 'http.route': route, 'url.path': request.url.split('?', 1)[0] },
      }),
    );
    done();
  });
  app.addHook('preHandler', (request, _reply, done) => {
    const span = spans.get(request);
    if (span) withSpan(span, done);
    else done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const span = spans.get(request);
    if (span) {
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.fail(`HTTP ${reply.statusCode}`);
      span.end();
      spans.delete(request);
    }
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    const span = spans.get(request);
    if (span) {
      span.fail('the client aborted the request');
      span.end();
      spans.delete(request);
    }
    done();
  });
}

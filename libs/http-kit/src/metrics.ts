/**
 * Prometheus metrics at /metrics: RED per route (rate and errors from the counter, duration from the
 * histogram), plus whatever gauges the service registers. One registry per app, so tests can build many.
 */
import fp from 'fastify-plugin';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry;
  }
  interface FastifyRequest {
    startedAt: bigint;
  }
}

export const metricsPlugin = fp<{ service: string; defaultMetrics?: boolean }>(
  async (app, { service, defaultMetrics = false }) => {
    const registry = new Registry();
    registry.setDefaultLabels({ service });
    if (defaultMetrics) collectDefaultMetrics({ register: registry });
    const requests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by route and status code',
      labelNames: ['method', 'route', 'status_code'],
      registers: [registry],
    });
    const duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
    app.decorate('metrics', registry);
    app.decorateRequest('startedAt', 0n);
    // Children per label set, looked up by one string: prom-client would otherwise hash a label object per call.
    const children = new Map<string, { count: () => void; observe: (seconds: number) => void }>();
    const childFor = (method: string, route: string, status: number) => {
      const key = `${method} ${route} ${status}`;
      let child = children.get(key);
      if (!child) {
        const labels = { method, route, status_code: String(status) };
        const counter = requests.labels(labels);
        const histogram = duration.labels(labels);
        child = { count: () => counter.inc(), observe: (seconds) => histogram.observe(seconds) };
        children.set(key, child);
      }
      return child;
    };
    app.addHook('onRequest', (request, _reply, done) => {
      request.startedAt = process.hrtime.bigint();
      done();
    });
    app.addHook('onResponse', (request, reply, done) => {
      // The route pattern, not the URL: ids in paths would explode the label set.
      const child = childFor(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode);
      child.count();
      child.observe(Number(process.hrtime.bigint() - request.startedAt) / 1e9);
      done();
    });
    app.get('/metrics', { schema: { hide: true }, config: { rateLimit: false } }, async (_request, reply) => {
      reply.type(registry.contentType);
      return registry.metrics();
    });
  },
  { name: 'securecart-metrics' },
);

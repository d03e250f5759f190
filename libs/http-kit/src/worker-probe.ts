/**
 * A worker has no API, but it still answers its container's health checks and Prometheus: /health/live,
 * /health/ready (its dependencies answer and it is not shutting down) and /metrics, on a port of its own.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { healthPlugin, type ReadinessCheck } from './health.ts';

export async function buildWorkerProbe(options: { registry: Registry; checks: Record<string, ReadinessCheck> }): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await app.register(healthPlugin, { checks: options.checks });
  app.get('/metrics', async (_request, reply) => {
    reply.type(options.registry.contentType);
    return options.registry.metrics();
  });
  return app;
}

/** A worker's metrics registry: every metric labelled with the service, and Node's default metrics collected. */
export function workerRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * The local stand-in for the Application Load Balancer: forwards /api/... by the path rules to each service's
 * own port, adds X-Forwarded-For and the request id, and serves the development identity provider.
 * Paths no rule names (including every /internal/... route) get a 404 problem.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import proxy from '@fastify/http-proxy';
import { randomUUID } from 'node:crypto';
import { ProblemError, sendProblem, toProblem } from '@securecart/http-kit';
import { EDGE_RULES, type ServiceName } from './rules.ts';

export interface EdgeOptions {
  /** base URL of each service that runs; rules for services not listed answer 503 */
  upstreams: Partial<Record<ServiceName, string>>;
  logger?: boolean | object;
  /** registered on the edge itself: the dev identity provider's routes */
  extraRoutes?: (app: FastifyInstance) => Promise<void>;
}

export async function buildEdge(options: EdgeOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    },
    requestIdHeader: false,
    bodyLimit: 1024 * 1024,
  });

  for (const rule of EDGE_RULES) {
    const upstream = options.upstreams[rule.service];
    for (const prefix of rule.prefixes) {
      if (!upstream) {
        app.all(prefix, async (_req, reply) => sendProblem(reply, notDeployed(rule.service)));
        app.all(`${prefix}/*`, async (_req, reply) => sendProblem(reply, notDeployed(rule.service)));
        continue;
      }
      await app.register(proxy, {
        upstream,
        prefix,
        rewritePrefix: prefix,
        http: { requestOptions: { timeout: 30_000 } },
        replyOptions: {
          rewriteRequestHeaders: (request, headers) => ({
            ...headers,
            'x-forwarded-for': headers['x-forwarded-for'] ? `${String(headers['x-forwarded-for'])}, ${request.ip}` : request.ip,
            'x-forwarded-proto': 'http',
            'x-request-id': request.id,
          }),
        },
      });
    }
  }
  if (options.extraRoutes) await options.extraRoutes(app);
  app.setErrorHandler((error, _request, reply) => sendProblem(reply, toProblem(error)));
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new ProblemError(404, 'not-found', 'Not found', `No route for ${request.method} ${request.url.split('?')[0]}`)),
  );
  return app;
}

function notDeployed(service: string) {
  return new ProblemError(503, 'unavailable', 'Service unavailable', `The ${service} service is not running`, {
    headers: { 'retry-after': '5' },
  });
}

/**
 * The local stand-in for the Application Load Balancer: forwards /api/... by the path rules to each service's
 * own port, adds X-Forwarded-For and the request id, and serves the development identity provider.
 * Paths no rule names (including every /internal/... route) get a 404 problem.
 *
 * Connections to the services are pooled, so whatever one request leaves on a connection reaches the next one, maybe
 * another client's: the edge forwards no Content-Length it does not honour, and refuses a body over the services'
 * limit itself, before a service refuses it by closing a connection the edge is still writing to.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import proxy from '@fastify/http-proxy';
import { randomUUID } from 'node:crypto';
import { clientErrorProblem, installValidation, ProblemError, sendProblem, toProblem } from '@securecart/http-kit';
import { EDGE_RULES, type ServiceName } from './rules.ts';

export interface EdgeOptions {
  /** base URL of each service that runs; rules for services not listed answer 503 */
  upstreams: Partial<Record<ServiceName, string>>;
  /** the services' body limit (64 KiB, docs/problems.md): a larger declared body is answered 413 here */
  bodyLimitBytes?: number;
  logger?: boolean | object;
  /** registered on the edge itself: the dev identity provider's routes */
  extraRoutes?: (app: FastifyInstance) => Promise<void>;
}

export async function buildEdge(options: EdgeOptions): Promise<FastifyInstance> {
  const bodyLimit = options.bodyLimitBytes ?? 64 * 1024;
  const app = Fastify({
    logger: options.logger ?? false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    },
    requestIdHeader: false,
    bodyLimit,
    // a malformed percent-encoding or an over-long path parameter, found before any route: problems too
    frameworkErrors: (error, _request, reply) => sendProblem(reply, toProblem(error)),
    clientErrorHandler: clientErrorProblem,
  });
  // The dev identity provider's body is validated as every service's is: unknown fields refused, nothing coerced.
  installValidation(app);
  // Before the proxies: a route keeps the error handler it was registered under. reply-from's 400 for a path whose
  // dot segments climb out of its prefix is a problem, and so is an upstream that does not answer (a 503, as nginx's).
  app.setErrorHandler((error, _request, reply) => {
    const status = (error as { statusCode?: unknown }).statusCode;
    if (status === 502 || status === 503 || status === 504) {
      return sendProblem(reply, new ProblemError(503, 'unavailable', 'Service unavailable', 'The service did not answer', { headers: { 'retry-after': '5' } }));
    }
    return sendProblem(reply, toProblem(error));
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new ProblemError(404, 'not-found', 'Not found', `No route for ${request.method} ${request.url.split('?')[0]}`)),
  );
  // Streamed to a service, such a body is refused there with Connection: close while the edge still writes it, and
  // the reset beats the 413 (a 503). Answered here, before any of it is read, the body is drained, not reset.
  app.addHook('onRequest', async (request) => {
    if (Number(request.headers['content-length'] ?? 0) > bodyLimit) {
      throw new ProblemError(413, 'payload-too-large', 'Payload too large', 'The request body exceeds the limit');
    }
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
          rewriteRequestHeaders: (request, headers) => {
            const forwarded = {
              ...headers,
              'x-forwarded-for': headers['x-forwarded-for'] ? `${String(headers['x-forwarded-for'])}, ${request.ip}` : request.ip,
              'x-forwarded-proto': 'http',
              'x-request-id': request.id,
            };
            // reply-from sends a GET or HEAD without its body but with the client's Content-Length: the service would
            // read the next request on the connection as that body (a desync). What is not sent is not announced.
            if (request.method === 'GET' || request.method === 'HEAD') {
              delete forwarded['content-length'];
              delete forwarded['transfer-encoding'];
            }
            return forwarded;
          },
        },
      });
    }
  }
  if (options.extraRoutes) await options.extraRoutes(app);
  return app;
}

function notDeployed(service: string) {
  return new ProblemError(503, 'unavailable', 'Service unavailable', `The ${service} service is not running`, {
    headers: { 'retry-after': '5' },
  });
}

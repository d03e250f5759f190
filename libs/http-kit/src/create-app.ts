/**
 * Every service's HTTP app starts here, so they all behave the same: request ids, structured logs, problem errors,
 * strict validation, security headers, a body limit, auth, rate limits, health, metrics, docs, and a span per
 * request when the process started tracing.
 * A service's own buildApp() calls createHttpApp() and registers its routes on the result.
 */
import { randomUUID } from 'node:crypto';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyServerOptions,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { tracingEnabled } from '@securecart/telemetry';
import { authPlugin, type TokenVerifier } from './auth.ts';
import { docsPlugin, type DocsOptions } from './docs.ts';
import { clientErrorProblem, installErrorHandling, sendProblem, toProblem } from './error-handler.ts';
import { healthPlugin, type ReadinessCheck } from './health.ts';
import { metricsPlugin } from './metrics.ts';
import { rateLimitPlugin, type RateLimitOptions } from './rate-limit.ts';
import { securityHeadersPlugin } from './security-headers.ts';
import { installTracing } from './tracing.ts';
import { trustedProxies } from './trusted-proxies.ts';
import { findUnstorableString, installValidation, unstorableStringProblem } from './validation.ts';

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface HttpAppOptions {
  service: string;
  docs: DocsOptions;
  verifier: TokenVerifier;
  readiness: Record<string, ReadinessCheck>;
  rateLimit: Omit<RateLimitOptions, 'scope'>;
  /** a pino logger, or logger options; false in tests that do not want output */
  logger?: FastifyServerOptions['logger'] | FastifyBaseLogger;
  bodyLimitBytes?: number;
  /** process-wide metrics (event loop, GC): only one app per process should ask for them */
  defaultMetrics?: boolean;
  /**
   * How many proxies in front append to X-Forwarded-For and are trusted (default 1: the ALB, or the edge locally):
   * trustedProxies(). A made-up X-Forwarded-For cannot dodge the per-address rate limit.
   */
  trustedProxyHops?: number;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export async function createHttpApp(options: HttpAppOptions): Promise<App> {
  const loggerIsInstance = options.logger && typeof (options.logger as FastifyBaseLogger).child === 'function';
  const app = Fastify({
    ...(loggerIsInstance
      ? { loggerInstance: options.logger as FastifyBaseLogger }
      : {
          logger: options.logger ?? {
            level: 'info',
            base: { service: options.service },
            redact: ['req.headers.authorization', 'req.headers.cookie'],
          },
        }),
    bodyLimit: options.bodyLimitBytes ?? 64 * 1024,
    trustProxy: trustedProxies(options.trustedProxyHops ?? 1),
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // a malformed percent-encoding or an over-long path parameter, found before any route: problems too
    frameworkErrors: (error, _request, reply) => sendProblem(reply, toProblem(error)),
    // and what Node's parser refuses before that (headers over 16 KiB, a malformed request line)
    clientErrorHandler: clientErrorProblem,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // An empty body with Content-Type: application/json (common from clients on DELETE) is no body, not an error;
  // a route that needs a body still says so through its schema. JSON is the only body there is: Fastify's own
  // text/plain parser would let a body through to routes that take none (a DELETE), not answer 415.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined);
    return parseJson(request, body as string, (error, json) => {
      const unstorable = error ? undefined : findUnstorableString(json);
      if (unstorable !== undefined) return done(unstorableStringProblem(unstorable), undefined);
      return done(error, json);
    });
  });

  installValidation(app);
  installErrorHandling(app);
  // Only when the process started tracing: otherwise not even a hook is added.
  if (tracingEnabled()) installTracing(app);
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });

  await app.register(securityHeadersPlugin);
  await app.register(authPlugin, { verifier: options.verifier });
  await app.register(rateLimitPlugin, { ...options.rateLimit, scope: options.service });
  await app.register(metricsPlugin, { service: options.service, defaultMetrics: options.defaultMetrics ?? false });
  await app.register(healthPlugin, { checks: options.readiness });
  await app.register(docsPlugin, options.docs);
  return app;
}

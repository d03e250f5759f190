/**
 * The development identity provider as a process of its own, for compose mode (embedded mode mounts the same routes
 * on its edge): the JWKS at /.well-known/jwks.json, POST /api/dev/token {sub, groups?, email?}, and /health/live and
 * /health/ready for its container. The edge routes the first two to it; services fetch the JWKS from it directly.
 * Its key pair is made at start, so tokens minted before a restart stop verifying. It refuses NODE_ENV=production.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { loadConfigOrExit } from '@securecart/config';
import { createDevIdentityProvider, devIdentityRoutes } from '@securecart/dev-idp';
import { healthPlugin, installErrorHandling, installValidation, serve } from '@securecart/http-kit';
import { loadDevIdpConfig, type DevIdpConfig } from './config.ts';

export async function buildDevIdpServer(config: DevIdpConfig, options: { logger?: FastifyBaseLogger } = {}): Promise<FastifyInstance> {
  const idp = await createDevIdentityProvider({
    issuer: config.AUTH_ISSUER,
    audience: config.AUTH_AUDIENCE,
    tokenTtlSeconds: config.TOKEN_TTL_SECONDS,
    nodeEnv: config.NODE_ENV,
  });
  const app = Fastify({
    loggerInstance: options.logger ?? pino({ level: config.LOG_LEVEL, base: { service: 'dev-idp' } }),
    bodyLimit: 16 * 1024,
  });
  // validated as every service's bodies are: unknown fields refused, not silently dropped as Fastify's
  // default validator would, and nothing coerced ("5" is not 5)
  installValidation(app);
  installErrorHandling(app);
  await app.register(healthPlugin, { checks: {} });
  await app.register(devIdentityRoutes, { idp });
  return app;
}

async function main() {
  const config = loadConfigOrExit('dev-idp', () => loadDevIdpConfig());
  let app: FastifyInstance;
  try {
    app = await buildDevIdpServer(config);
  } catch (error) {
    process.stderr.write(`dev-idp: could not start: ${(error as Error).message}\n`);
    process.exit(1);
  }
  await serve(app, { port: config.PORT, host: config.HOST });
  app.log.info({ issuer: config.AUTH_ISSUER, audience: config.AUTH_AUDIENCE, port: config.PORT }, 'dev-idp started');
}

if (import.meta.main) await main();

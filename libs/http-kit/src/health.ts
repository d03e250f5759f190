/**
 * /health/live answers while the process runs. /health/ready answers 200 only when every dependency answers
 * and the process is not shutting down, so a load balancer stops routing to a task that cannot serve.
 */
import fp from 'fastify-plugin';
import { Type } from 'typebox';

export type ReadinessCheck = () => Promise<void>;

declare module 'fastify' {
  interface FastifyInstance {
    /** set when shutdown begins: readiness fails from then on */
    draining: boolean;
  }
}

const CHECK_TIMEOUT_MS = 2_000;

async function runCheck(check: ReadinessCheck): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (error) {
    return `failing: ${(error as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

const HealthBody = Type.Object({
  status: Type.String(),
  checks: Type.Optional(Type.Record(Type.String(), Type.String())),
});

export const healthPlugin = fp<{ checks: Record<string, ReadinessCheck> }>(
  async (app, { checks }) => {
    app.decorate('draining', false);
    const opts = { schema: { hide: true, response: { 200: HealthBody, 503: HealthBody } }, config: { rateLimit: false } };
    app.get('/health/live', opts, async () => ({ status: 'ok' }));
    app.get('/health/ready', opts, async (_request, reply) => {
      if (app.draining) return reply.code(503).send({ status: 'draining' });
      const names = Object.keys(checks);
      const results = await Promise.all(names.map((name) => runCheck(checks[name]!)));
      const report = Object.fromEntries(names.map((name, i) => [name, results[i]!]));
      const ok = results.every((r) => r === 'ok');
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks: report });
    });
  },
  { name: 'securecart-health' },
);

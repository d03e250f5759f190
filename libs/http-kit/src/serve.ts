/**
 * Runs an app as a server and designs its shutdown: on SIGTERM/SIGINT readiness fails at once (the load
 * balancer stops sending), the server stops accepting, in-flight requests finish, then `cleanup` closes pools
 * and clients, and the process exits 0. A second signal, or the grace period running out, exits 1.
 */
import type { FastifyInstance } from 'fastify';

export interface ServeOptions {
  port: number;
  host?: string;
  /** closes pools, clients, timers: runs after the server has drained */
  cleanup?: () => Promise<void>;
  graceMs?: number;
  /** tests pass false to keep the process */
  exitProcess?: boolean;
}

export async function serve(app: FastifyInstance, options: ServeOptions): Promise<{ stop: () => Promise<void> }> {
  await app.listen({ port: options.port, host: options.host ?? '0.0.0.0' });
  let stopping: Promise<void> | undefined;

  const stop = () => {
    stopping ??= (async () => {
      app.draining = true;
      app.log.info('shutting down: draining in-flight requests');
      await app.close();
      await options.cleanup?.();
      app.log.info('shut down cleanly');
    })();
    return stopping;
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      app.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    const timer = setTimeout(() => {
      app.log.error('grace period over: exiting with in-flight work');
      process.exit(1);
    }, options.graceMs ?? 25_000);
    timer.unref();
    stop().then(
      () => {
        if (options.exitProcess !== false) process.exit(0);
      },
      (error: unknown) => {
        app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return { stop };
}

/**
 * The entry point of a queue worker, shaped once for all of them: start it (a failure to start logs why and exits
 * 1), then on SIGTERM/SIGINT stop taking messages and finish those in flight (`stop()`), run `cleanup` (flushing
 * the last spans), exit 0 when done. A second signal, or the grace period running out (ECS sends SIGKILL 30 s after
 * SIGTERM by default), exits 1.
 */

interface WorkerLog {
  info(obj: object, msg: string): void;
  info(msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  error(msg: string): void;
  fatal(obj: object, msg: string): void;
}

export interface WorkerMainOptions<W extends { stop(): Promise<void> }> {
  log: WorkerLog;
  start: () => Promise<W>;
  /** what is finishing, for the log: "messages", "deliveries" */
  inFlight?: string;
  graceMs?: number;
  /** runs after the worker has stopped (flushing the last spans) */
  cleanup?: () => Promise<void>;
}

export async function runWorkerMain<W extends { stop(): Promise<void> }>(options: WorkerMainOptions<W>): Promise<void> {
  const { log } = options;
  const inFlight = options.inFlight ?? 'messages';
  let worker: W;
  try {
    worker = await options.start();
  } catch (error) {
    log.fatal({ err: error }, `could not start: ${(error as Error).message}`);
    process.exit(1);
  }
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, `shutting down: finishing ${inFlight} in flight`);
    setTimeout(() => {
      log.error(`grace period over: exiting with ${inFlight} in flight`);
      process.exit(1);
    }, options.graceMs ?? 25_000).unref();
    worker.stop().then(() => options.cleanup?.()).then(
      () => {
        log.info('shut down cleanly');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

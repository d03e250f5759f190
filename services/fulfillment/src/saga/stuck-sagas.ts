/**
 * The worker's own safety net for sagas that stopped moving: a saga is driven by its order's messages, so one whose
 * messages are gone (dead-lettered after a long outage, purged by an operator) would stay RUNNING, its payment
 * perhaps captured and its stock reserved, forever. Every `checkSeconds` this looks for sagas RUNNING or
 * COMPENSATING with no progress for `stuckAfterSeconds` and no lease, and runs each from where it stands, to its end
 * (shipped, or compensated). Several tasks may sweep at once: the lease lets one of them run a saga.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { findStuckSagas, SagaBusy } from '../db/sagas-repo.ts';
import { runSaga, type SagaDeps } from './run-saga.ts';

export interface StuckSagaOptions {
  stuckAfterSeconds: number;
  checkSeconds: number;
  /** sagas resumed per sweep */
  batch?: number;
  log?: Logger;
}

export class StuckSagaResumer {
  /** sagas this task resumed and ran to their end; resumed but failing again (a transient failure: tried next sweep) */
  readonly stats = { resumed: 0, failed: 0 };
  private readonly deps: SagaDeps;
  private readonly options: StuckSagaOptions;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;

  constructor(deps: SagaDeps, options: StuckSagaOptions) {
    this.deps = deps;
    this.options = options;
  }

  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.options.checkSeconds * 1000);
    this.timer.unref();
  }

  /** One look for stuck sagas; returns how many it ran to their end. */
  sweep(): Promise<number> {
    this.sweeping ??= this.resumeStuck().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async resumeStuck(): Promise<number> {
    let stuck: string[];
    try {
      stuck = await findStuckSagas(this.deps.db, this.options.stuckAfterSeconds, this.options.batch ?? 20);
    } catch (error) {
      this.options.log?.warn({ err: error }, 'could not look for stuck sagas');
      return 0;
    }
    let ended = 0;
    for (const orderId of stuck) {
      try {
        const saga = await runSaga(this.deps, orderId, `resume:${randomUUID()}`);
        this.stats.resumed++;
        ended++;
        this.options.log?.warn({ orderId, status: saga?.status, step: saga?.step }, 'resumed a stuck saga');
      } catch (error) {
        if (error instanceof SagaBusy) continue; // another task (or a late message) took it
        this.stats.failed++;
        this.options.log?.warn({ err: error, orderId }, 'a stuck saga failed again: trying next sweep');
      }
    }
    return ended;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping;
  }
}

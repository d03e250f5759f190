/**
 * Runs a fulfillment saga (docs/architecture.md, Fulfillment saga) from wherever it stands, under its lease:
 *
 *   fraud → reserve-stock → capture-payment → create-shipment → commit-stock → done
 *
 * Each step makes one outside call with an idempotency key (order id + step). What it got and its event
 * (inventory.reserved, payment.captured, shipment.created) are saved, with the outbox rows, in one statement at the
 * points the customer sees: once the payment is captured (the reservation with it), and once the order has shipped
 * and its stock is committed (the shipment with it); any other save (a failure, compensation) takes whatever is not
 * saved yet with it. A crash anywhere leaves the saga at its last save; when SQS redelivers, the steps since run
 * again and their keys make each repeated call return the first call's effect (one reservation, one capture, one
 * shipment).
 *
 * A TransientFailure is recorded (attempts, last error) and rethrown: the consumer makes the message visible
 * again after a backoff. A PermanentFailure turns the saga to COMPENSATING: undo in reverse (void the payment,
 * release the stock), then FAILED with `fulfillment.failed`. A cancellation (cancelSaga) undoes the same way
 * unless the order has shipped, and ends CANCELLED with `fulfillment.compensated`.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EventName, EventPayload } from '@securecart/contracts';
import { inTransaction, type Db } from '@securecart/db';
import { createEvent, enqueueEvent, recordProcessed, type CloudEvent } from '@securecart/messaging';
import { acquireLease, insertCancelledTombstone, releaseLease, saveSaga, type SagaPatch } from '../db/sagas-repo.ts';
import { FULFILLMENT_SCHEMA, type SagaRow } from '../db/schema.ts';
import { assessFraud, type FraudRules } from '../domain/fraud-rules.ts';
import { hasShipped, isTerminal, undoPlan, type FailableStep } from '../domain/saga.ts';
import { PermanentFailure, TransientFailure, type PaymentGateway, type ShippingProvider, type StockReservations, type VelocityCounter } from '../ports.ts';

export interface SagaDeps {
  /** the fulfillment schema's primary */
  db: Db;
  payments: PaymentGateway;
  shipping: ShippingProvider;
  stock: StockReservations;
  velocity: VelocityCounter;
  rules: FraudRules;
  /** how long a runner may hold a saga without saving progress (the queue's visibility timeout) */
  leaseMs: number;
  log?: Logger;
  /** outcome counters, for metrics */
  stats?: SagaStats;
}

export interface SagaStats {
  completed: number;
  failed: number;
  cancelled: number;
  transientFailures: number;
}

export const newSagaStats = (): SagaStats => ({ completed: 0, failed: 0, cancelled: 0, transientFailures: 0 });

export const keyOf = (orderId: string, step: 'reserve' | 'capture' | 'ship' | 'void' | 'refund' | 'release') => `${orderId}:${step}`;

/** One run of a saga by one message: holds the lease, knows how to save and what to stamp on events. */
class SagaRun {
  saga: SagaRow;
  private readonly deps: SagaDeps;
  private readonly owner: string;
  private readonly log: Logger | undefined;
  /** the last save ended the saga and gave up the lease with it: nothing left to release */
  released = false;
  /** what steps have done since the last save: saved by the next one */
  private unsaved: { patch: SagaPatch; events: CloudEvent[] } = { patch: {}, events: [] };

  constructor(deps: SagaDeps, saga: SagaRow, owner: string) {
    this.deps = deps;
    this.saga = saga;
    this.owner = owner;
    this.log = deps.log?.child({ orderId: saga.orderId });
  }

  event<N extends EventName>(name: N, data: EventPayload<N>): CloudEvent {
    return createEvent({
      name,
      source: 'fulfillment',
      subject: this.saga.orderId,
      data,
      ...(this.saga.correlationId ? { correlationId: this.saga.correlationId } : {}),
      ...(this.saga.traceparent ? { traceparent: this.saga.traceparent } : {}),
    });
  }

  /** Keeps what a step did for the next save (the run carries on from it at once). */
  private keep(patch: SagaPatch, events: CloudEvent[]): void {
    this.saga = { ...this.saga, ...patch };
    this.unsaved = { patch: { ...this.unsaved.patch, ...patch }, events: [...this.unsaved.events, ...events] };
  }

  /** Saves the patch, and whatever steps have kept since the last save, with the step the run stands at (a step may
   * move on without a save of its own). The save that ends the saga gives up the lease with it. */
  async save(patch: SagaPatch, events: CloudEvent[] = []): Promise<void> {
    const release = patch.status !== undefined && isTerminal(patch.status);
    const { unsaved } = this;
    this.saga = await saveSaga(
      this.deps.db,
      this.saga.orderId,
      this.owner,
      this.deps.leaseMs,
      { ...unsaved.patch, step: this.saga.step, ...patch },
      [...unsaved.events, ...events],
      { release },
    );
    this.unsaved = { patch: {}, events: [] };
    if (release) this.released = true;
  }

  /** Runs steps until the saga ends; returns when it has (a TransientFailure propagates). */
  async run(): Promise<void> {
    while (!isTerminal(this.saga.status)) {
      if (this.saga.status === 'COMPENSATING') await this.finishFailure();
      else await this.step();
    }
  }

  private async step(): Promise<void> {
    const { orderId, customerId } = this.saga;
    const order = this.saga.order!;
    try {
      switch (this.saga.step) {
        case 'fraud': {
          const recentOrders = await this.deps.velocity.record(customerId, orderId, this.deps.rules.velocityWindowSeconds);
          const decision = assessFraud(this.deps.rules, { totalCents: order.totalCents, recentOrders });
          if (!decision.approved) throw new PermanentFailure(decision.reason);
          // Not saved on its own: the check has no effect to remember (its count is idempotent per order), so it is
          // saved with the reservation, one transaction fewer per order; a crash before that checks again.
          this.saga = { ...this.saga, step: 'reserve-stock' };
          return;
        }
        case 'reserve-stock': {
          const { reservationId } = await this.deps.stock.reserve(orderId, order.lines);
          // saved with the capture (or with a failure): a repeat of the reservation returns it as it is
          this.keep({ step: 'capture-payment', reservationId, attempts: 0, lastError: null }, [this.event('inventory.reserved', { orderId, reservationId })]);
          return;
        }
        case 'capture-payment': {
          const { paymentId } = await this.deps.payments.capture({
            idempotencyKey: keyOf(orderId, 'capture'),
            orderId,
            token: this.saga.paymentToken ?? '',
            amountCents: order.totalCents,
            currency: order.currency,
          });
          await this.save({ step: 'create-shipment', paymentId, paymentToken: null, attempts: 0, lastError: null }, [
            this.event('payment.captured', { orderId, paymentId, amountCents: order.totalCents, currency: order.currency }),
          ]);
          return;
        }
        case 'create-shipment': {
          const shipment = await this.deps.shipping.createShipment({
            idempotencyKey: keyOf(orderId, 'ship'),
            orderId,
            address: order.shippingAddress,
            lines: order.lines,
          });
          // saved with the end of the saga (or with a failure): a repeat of the call returns the same shipment
          this.keep({ step: 'commit-stock', ...shipment, attempts: 0, lastError: null }, [this.event('shipment.created', { orderId, ...shipment })]);
          return;
        }
        case 'commit-stock': {
          try {
            await this.deps.stock.commit(orderId);
          } catch (error) {
            // Shipped already: nothing to undo. A refused commit is the catalog's bookkeeping, not the customer's.
            if (!(error instanceof PermanentFailure)) throw error;
            this.log?.error({ err: error }, 'the catalog refused to commit the reservation of a shipped order');
          }
          await this.save({ step: 'done', status: 'COMPLETED', endedAt: new Date(), attempts: 0, lastError: null }, []);
          if (this.deps.stats) this.deps.stats.completed++;
          this.log?.info('fulfilled: shipped');
          return;
        }
        case 'done':
          await this.save({ status: 'COMPLETED', endedAt: new Date() });
          return;
      }
    } catch (error) {
      if (!(error instanceof PermanentFailure)) throw error;
      const failedStep = this.saga.step as FailableStep;
      this.log?.info({ step: failedStep, reason: error.message }, 'fulfillment failed: compensating');
      await this.save({ status: 'COMPENSATING', failedStep, failureReason: error.message, lastError: error.message });
    }
  }

  /** Undoes what was done (in reverse: the payment, then the stock), then ends FAILED with fulfillment.failed. */
  private async finishFailure(): Promise<void> {
    await this.undo();
    const { orderId } = this.saga;
    await this.save({ status: 'FAILED', endedAt: new Date(), paymentToken: null }, [
      this.event('fulfillment.failed', {
        orderId,
        step: (this.saga.failedStep ?? 'fraud') as FailableStep,
        reason: this.saga.failureReason ?? 'fulfillment failed',
      }),
    ]);
    if (this.deps.stats) this.deps.stats.failed++;
  }

  /** Voids the payment and releases the stock, as far as the saga got; each undo is saved as it is done. */
  async undo(): Promise<{ voidedPayment: boolean; releasedStock: boolean }> {
    const { orderId } = this.saga;
    const plan = undoPlan(this.saga);
    let voidedPayment = this.saga.paymentVoided;
    let releasedStock = this.saga.stockReleased;
    if (plan.voidPayment) {
      const { voided } = await this.deps.payments.void({ idempotencyKey: keyOf(orderId, 'void'), orderId, captureKey: keyOf(orderId, 'capture') });
      voidedPayment = voided;
      await this.save({ paymentVoided: true });
    }
    if (plan.releaseStock) {
      await this.deps.stock.release(orderId);
      releasedStock = this.saga.reservationId !== null;
      await this.save({ stockReleased: true });
    }
    return { voidedPayment, releasedStock };
  }

  /** order.cancelled: undo unless shipped (then refund), end CANCELLED, say so with fulfillment.compensated. */
  async cancel(eventId: string, eventType: string): Promise<'cancelled' | 'refunded-after-shipment' | 'already-ended'> {
    const { orderId } = this.saga;
    if (this.saga.status === 'FAILED' || this.saga.status === 'CANCELLED' || (hasShipped(this.saga.step) && this.saga.paymentRefunded)) {
      return 'already-ended';
    }
    if (hasShipped(this.saga.step)) {
      // The shipment was created before the cancellation arrived. The order is CANCELLED in the orders service,
      // so the customer must not pay for it: refund, and leave the shipment to be recalled (logged for people).
      const { refunded } = await this.deps.payments.refund({ idempotencyKey: keyOf(orderId, 'refund'), orderId, captureKey: keyOf(orderId, 'capture') });
      await this.saveWithProcessed(eventId, eventType, { paymentRefunded: true }, [
        this.event('fulfillment.compensated', { orderId, voidedPayment: refunded, releasedStock: false }),
      ]);
      this.log?.warn({ shipmentId: this.saga.shipmentId }, 'cancelled after the shipment was created: payment refunded, the shipment must be recalled');
      return 'refunded-after-shipment';
    }
    const undone = await this.undo();
    await this.saveWithProcessed(eventId, eventType, { status: 'CANCELLED', endedAt: new Date(), paymentToken: null }, [
      this.event('fulfillment.compensated', { orderId, ...undone }),
    ]);
    if (this.deps.stats) this.deps.stats.cancelled++;
    return 'cancelled';
  }

  private async saveWithProcessed(eventId: string, eventType: string, patch: SagaPatch, events: CloudEvent[]): Promise<void> {
    await this.save(patch, events);
    // Recorded after the effect: a redelivery before this point finds the saga ended and does nothing anyway.
    await recordProcessed(this.deps.db, FULFILLMENT_SCHEMA, eventId, eventType);
  }

  async recordFailure(error: Error): Promise<void> {
    if (this.deps.stats && error instanceof TransientFailure) this.deps.stats.transientFailures++;
    await this.save({ attempts: this.saga.attempts + 1, lastError: error.message.slice(0, 1000) }).catch(() => undefined);
  }
}

/**
 * Runs `work` holding the saga's lease as `owner`. The owner is the delivery that runs it: the SQS message id, the
 * same on every delivery of one message. So when a run dies without releasing its lease (the database went away
 * mid-step, and the release failed too), the next attempt at the same message takes the lease over at once
 * instead of waiting it out, while another message about the order (an order.cancelled) still finds it busy.
 */
async function withLease<T>(deps: SagaDeps, orderId: string, owner: string, work: (run: SagaRun) => Promise<T>, leased?: SagaRow): Promise<T | undefined> {
  const saga = leased ?? (await acquireLease(deps.db, orderId, owner, deps.leaseMs));
  if (!saga) return undefined;
  const run = new SagaRun(deps, saga, owner);
  try {
    return await work(run);
  } catch (error) {
    await run.recordFailure(error as Error);
    throw error;
  } finally {
    if (!run.released) await releaseLease(deps.db, orderId, owner).catch(() => undefined);
  }
}

/**
 * Runs the saga of an order until it ends, as `owner` (the message's id; a fresh one when nothing redelivers).
 * `leased` is the saga as startSaga created it, its lease already `owner`'s. Throws (to be retried) on a transient
 * failure or a lease held by another owner.
 */
export async function runSaga(deps: SagaDeps, orderId: string, owner: string = randomUUID(), leased?: SagaRow): Promise<SagaRow | undefined> {
  return withLease(
    deps,
    orderId,
    owner,
    async (run) => {
      await run.run();
      return run.saga;
    },
    leased,
  );
}

/**
 * Handles order.cancelled. For an order this service has not heard of (its order.placed is late), leaves a
 * CANCELLED tombstone so the late order.placed does nothing.
 */
export async function cancelSaga(deps: SagaDeps, event: CloudEvent<'order.cancelled'>, owner: string = randomUUID()): Promise<string> {
  const { orderId, customerId } = event.data;
  const tombstoned = await inTransaction(deps.db, async (tx) => {
    const created = await insertCancelledTombstone(tx, orderId, customerId, event.correlationid);
    if (created) {
      await enqueueEvent(
        tx,
        FULFILLMENT_SCHEMA,
        createEvent({
          name: 'fulfillment.compensated',
          source: 'fulfillment',
          subject: orderId,
          data: { orderId, voidedPayment: false, releasedStock: false },
          ...(event.correlationid ? { correlationId: event.correlationid } : {}),
        }),
      );
      await recordProcessed(tx, FULFILLMENT_SCHEMA, event.id, event.type);
    }
    return created;
  });
  if (tombstoned) return 'cancelled-before-placed';
  return (await withLease(deps, orderId, owner, (run) => run.cancel(event.id, event.type))) ?? 'unknown';
}

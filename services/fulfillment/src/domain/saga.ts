/**
 * The fulfillment saga as pure data: the steps in order, the saga's states, and what undoing a saga
 * takes at any point. The runner (saga/run-saga.ts) does the calls; this module decides.
 *
 *   fraud → reserve-stock → capture-payment → create-shipment → commit-stock → done
 *
 * RUNNING      steps are being run; `step` is the next one.
 * COMPENSATING a step failed for good (or the order was cancelled): undoing what was done, then FAILED/CANCELLED.
 * COMPLETED    shipped, stock committed.                     (terminal)
 * FAILED       rejected; payment voided and stock released.  (terminal)
 * CANCELLED    the customer cancelled before shipping; undone. (terminal)
 */

export const SAGA_STEPS = ['fraud', 'reserve-stock', 'capture-payment', 'create-shipment', 'commit-stock', 'done'] as const;
export type SagaStep = (typeof SAGA_STEPS)[number];

export const SAGA_STATUSES = ['RUNNING', 'COMPENSATING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type SagaStatus = (typeof SAGA_STATUSES)[number];

/** The steps that can fail for good and be reported in `fulfillment.failed`. */
export type FailableStep = 'fraud' | 'reserve-stock' | 'capture-payment' | 'create-shipment';

export const isTerminal = (status: SagaStatus) => status === 'COMPLETED' || status === 'FAILED' || status === 'CANCELLED';

export function nextStep(step: SagaStep): SagaStep {
  const index = SAGA_STEPS.indexOf(step);
  return SAGA_STEPS[Math.min(index + 1, SAGA_STEPS.length - 1)]!;
}

/** True once the saga has started (or finished) `step`: its effect may exist even if its answer was lost. */
export function reached(current: SagaStep, step: SagaStep): boolean {
  return SAGA_STEPS.indexOf(current) >= SAGA_STEPS.indexOf(step);
}

export interface UndoPlan {
  /** void the capture (by its idempotency key: a capture whose answer was lost is voided too) */
  voidPayment: boolean;
  /** put the reserved stock back (a release also guards against a reservation whose answer was lost) */
  releaseStock: boolean;
}

/**
 * What must be undone for a saga at `step` that has not shipped. A step that was attempted may have taken effect
 * even though its answer never came back (a timeout), so anything reached is undone; both undo calls are
 * idempotent and harmless when there was nothing to undo.
 */
export function undoPlan(saga: { step: SagaStep; paymentVoided: boolean; stockReleased: boolean }): UndoPlan {
  return {
    voidPayment: reached(saga.step, 'capture-payment') && !saga.paymentVoided,
    releaseStock: reached(saga.step, 'reserve-stock') && !saga.stockReleased,
  };
}

/** Shipped: too late to undo the shipment; a cancellation then refunds the payment. */
export const hasShipped = (step: SagaStep) => reached(step, 'commit-stock');

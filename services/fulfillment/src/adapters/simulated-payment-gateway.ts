/**
 * The simulated payment gateway of local modes and tests. Like a provider's test cards, the token decides
 * (docs/simulated-providers.md):
 *   tok_approve    approves
 *   tok_decline    a permanent decline
 *   tok_transient  fails twice with a transient error (provider unavailable), then approves
 *   tok_timeout    times out once — the capture HAPPENED, only the answer was lost — then answers "captured"
 *   anything else  declined
 * It behaves like a real gateway with idempotency keys: its ledger (fulfillment.simulated_payments, standing in
 * for the provider's side) has one row per key, so a repeated capture returns the first capture, never a second.
 */
import { and, eq, sql } from 'drizzle-orm';
import { executePrepared, inTransaction, rowsOf, rowValuesOf, type Db } from '@securecart/db';
import { simulatedPayments } from '../db/schema.ts';
import { PermanentFailure, TransientFailure, type PaymentGateway } from '../ports.ts';

export const TEST_TOKENS = ['tok_approve', 'tok_decline', 'tok_transient', 'tok_timeout'] as const;

type CaptureOutcome = { kind: 'captured'; paymentId: string } | { kind: 'declined' } | { kind: 'unavailable'; attempt: number } | { kind: 'timeout'; paymentId: string };

/** The gateway's decision for the `attempt`-th call with a token (pure). */
export function decideCapture(token: string, attempt: number): 'captured' | 'declined' | 'unavailable' | 'timeout' {
  switch (token) {
    case 'tok_approve':
      return 'captured';
    case 'tok_transient':
      return attempt <= 2 ? 'unavailable' : 'captured';
    case 'tok_timeout':
      return attempt === 1 ? 'timeout' : 'captured';
    default:
      return 'declined';
  }
}

type CaptureRequest = { idempotencyKey: string; orderId: string; token: string; amountCents: number; currency: string };

function outcomeOf(decision: ReturnType<typeof decideCapture>, attempt: number, paymentId: string): CaptureOutcome {
  switch (decision) {
    case 'captured':
      return { kind: 'captured', paymentId };
    case 'timeout':
      return { kind: 'timeout', paymentId };
    case 'unavailable':
      return { kind: 'unavailable', attempt };
    case 'declined':
      return { kind: 'declined' };
  }
}

const paymentIdOf = (key: string) => `pay_${Buffer.from(key).toString('base64url').slice(0, 24)}`;

export class SimulatedPaymentGateway implements PaymentGateway {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async capture(request: CaptureRequest): Promise<{ paymentId: string }> {
    const outcome = (await this.firstAttempt(request)) ?? (await this.nextAttempt(request));
    switch (outcome.kind) {
      case 'captured':
        return { paymentId: outcome.paymentId };
      case 'declined':
        throw new PermanentFailure('payment declined by the gateway');
      case 'unavailable':
        throw new TransientFailure(`payment gateway unavailable (attempt ${outcome.attempt})`);
      case 'timeout':
        throw new TransientFailure('payment gateway timed out');
    }
  }

  /** The first call with a key, the usual case: the decision is written with the key, one statement. undefined when
   * the key is known (a retry or a replay). */
  private async firstAttempt(request: CaptureRequest): Promise<CaptureOutcome | undefined> {
    // once per order: an sql template rather than the query builder (see setOf)
    const row = rowValuesOf(simulatedPayments, { ...this.captureRow(request), ...this.decide(request, 1) });
    const [created] = rowsOf(await executePrepared(this.db, sql`insert into ${simulatedPayments} ${row} on conflict do nothing returning 1 as created`));
    return created ? outcomeOf(decideCapture(request.token, 1), 1, paymentIdOf(request.idempotencyKey)) : undefined;
  }

  /** A key seen before: its row locked, replayed if it captured or was declined, else the next attempt decided. */
  private nextAttempt(request: CaptureRequest): Promise<CaptureOutcome> {
    return inTransaction(this.db, async (tx): Promise<CaptureOutcome> => {
      await tx.insert(simulatedPayments).values({ ...this.captureRow(request), status: 'new' }).onConflictDoNothing();
      const [row] = await tx.select().from(simulatedPayments).where(eq(simulatedPayments.idempotencyKey, request.idempotencyKey)).for('update');
      // A key that already captured (even if that answer was lost) answers with that capture: the idempotent replay.
      if (row!.paymentId) return { kind: 'captured', paymentId: row!.paymentId };
      if (row!.status === 'declined') return { kind: 'declined' };
      const attempt = row!.attempts + 1;
      await tx
        .update(simulatedPayments)
        .set({ ...this.decide(request, attempt), updatedAt: sql`now()` })
        .where(eq(simulatedPayments.idempotencyKey, request.idempotencyKey));
      return outcomeOf(decideCapture(request.token, attempt), attempt, paymentIdOf(request.idempotencyKey));
    });
  }

  private captureRow(request: CaptureRequest) {
    const { idempotencyKey, orderId, token, amountCents, currency } = request;
    return { idempotencyKey, orderId, operation: 'capture' as const, token, amountCents, currency };
  }

  /** What the ledger records of the `attempt`-th call: a timeout records the capture (only its answer is lost). */
  private decide(request: CaptureRequest, attempt: number): { attempts: number; status: string; paymentId: string | null } {
    const decision = decideCapture(request.token, attempt);
    const captured = decision === 'captured' || decision === 'timeout';
    return { attempts: attempt, status: captured ? 'captured' : decision, paymentId: captured ? paymentIdOf(request.idempotencyKey) : null };
  }

  async void(request: { idempotencyKey: string; orderId: string; captureKey: string }): Promise<{ voided: boolean }> {
    return { voided: await this.reverse(request, 'void', 'voided') };
  }

  async refund(request: { idempotencyKey: string; orderId: string; captureKey: string }): Promise<{ refunded: boolean }> {
    return { refunded: await this.reverse(request, 'refund', 'refunded') };
  }

  /** Voids or refunds the capture made under captureKey; false when there was no capture to reverse. */
  private async reverse(request: { idempotencyKey: string; orderId: string; captureKey: string }, operation: 'void' | 'refund', status: 'voided' | 'refunded') {
    return inTransaction(this.db, async (tx) => {
      await tx
        .insert(simulatedPayments)
        .values({ idempotencyKey: request.idempotencyKey, orderId: request.orderId, operation, status: 'done', attempts: 1 })
        .onConflictDoNothing();
      const [capture] = await tx
        .select()
        .from(simulatedPayments)
        .where(and(eq(simulatedPayments.idempotencyKey, request.captureKey), eq(simulatedPayments.operation, 'capture')))
        .for('update');
      if (!capture?.paymentId) return false;
      if (capture.status === 'captured') {
        await tx.update(simulatedPayments).set({ status, updatedAt: sql`now()` }).where(eq(simulatedPayments.idempotencyKey, request.captureKey));
        return true;
      }
      return capture.status === status;
    });
  }
}

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
import { inTransaction, type Db } from '@securecart/db';
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

const paymentIdOf = (key: string) => `pay_${Buffer.from(key).toString('base64url').slice(0, 24)}`;

export class SimulatedPaymentGateway implements PaymentGateway {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async capture(request: { idempotencyKey: string; orderId: string; token: string; amountCents: number; currency: string }): Promise<{ paymentId: string }> {
    const outcome = await inTransaction(this.db, async (tx): Promise<CaptureOutcome> => {
      await tx
        .insert(simulatedPayments)
        .values({
          idempotencyKey: request.idempotencyKey,
          orderId: request.orderId,
          operation: 'capture',
          token: request.token,
          amountCents: request.amountCents,
          currency: request.currency,
          status: 'new',
        })
        .onConflictDoNothing();
      const [row] = await tx.select().from(simulatedPayments).where(eq(simulatedPayments.idempotencyKey, request.idempotencyKey)).for('update');
      // A key that already captured (even if that answer was lost) answers with that capture: the idempotent replay.
      if (row!.paymentId) return { kind: 'captured', paymentId: row!.paymentId };
      if (row!.status === 'declined') return { kind: 'declined' };
      const attempt = row!.attempts + 1;
      const decision = decideCapture(request.token, attempt);
      const captured = decision === 'captured' || decision === 'timeout';
      const paymentId = captured ? paymentIdOf(request.idempotencyKey) : null;
      await tx
        .update(simulatedPayments)
        .set({ attempts: attempt, status: captured ? 'captured' : decision, paymentId, updatedAt: sql`now()` })
        .where(eq(simulatedPayments.idempotencyKey, request.idempotencyKey));
      if (decision === 'unavailable') return { kind: 'unavailable', attempt };
      if (decision === 'declined') return { kind: 'declined' };
      return decision === 'timeout' ? { kind: 'timeout', paymentId: paymentId! } : { kind: 'captured', paymentId: paymentId! };
    });
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

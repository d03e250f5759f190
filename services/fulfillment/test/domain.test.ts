import { describe, expect, it } from 'vitest';
import { decideCapture } from '../src/adapters/simulated-payment-gateway.ts';
import { retryDelay } from '../src/config.ts';
import { assessFraud } from '../src/domain/fraud-rules.ts';
import { hasShipped, isTerminal, nextStep, SAGA_STEPS, undoPlan, type SagaStep } from '../src/domain/saga.ts';

const rules = { maxOrderCents: 10_000, velocityMax: 3, velocityWindowSeconds: 600 };

describe('the fraud rules', () => {
  it('approve an order at the amount limit and at the velocity limit', () => {
    expect(assessFraud(rules, { totalCents: 10_000, recentOrders: 3 })).toEqual({ approved: true });
  });
  it('refuse an order over the amount limit, saying so', () => {
    expect(assessFraud(rules, { totalCents: 10_001, recentOrders: 1 })).toEqual({ approved: false, reason: expect.stringMatching(/exceeds the limit of 10000/) });
  });
  it('refuse a customer over the velocity limit, saying so', () => {
    expect(assessFraud(rules, { totalCents: 1, recentOrders: 4 })).toEqual({ approved: false, reason: expect.stringMatching(/4 orders by this customer within 10 min/) });
  });
});

describe('the saga steps', () => {
  it('run in the documented order and stay at done', () => {
    const walked: SagaStep[] = ['fraud'];
    while (walked.at(-1) !== 'done') walked.push(nextStep(walked.at(-1)!));
    expect(walked).toEqual(['fraud', 'reserve-stock', 'capture-payment', 'create-shipment', 'commit-stock', 'done']);
    expect(nextStep('done')).toBe('done');
  });
  it('end in COMPLETED, FAILED and CANCELLED only', () => {
    expect(['RUNNING', 'COMPENSATING', 'COMPLETED', 'FAILED', 'CANCELLED'].filter((s) => isTerminal(s as never))).toEqual(['COMPLETED', 'FAILED', 'CANCELLED']);
  });
  it('undo whatever was attempted, in case its answer was lost, and nothing twice', () => {
    const none = { paymentVoided: false, stockReleased: false };
    expect(undoPlan({ step: 'fraud', ...none })).toEqual({ voidPayment: false, releaseStock: false });
    expect(undoPlan({ step: 'reserve-stock', ...none })).toEqual({ voidPayment: false, releaseStock: true });
    expect(undoPlan({ step: 'capture-payment', ...none })).toEqual({ voidPayment: true, releaseStock: true });
    expect(undoPlan({ step: 'create-shipment', paymentVoided: true, stockReleased: false })).toEqual({ voidPayment: false, releaseStock: true });
  });
  it('count as shipped from commit-stock on', () => {
    expect(SAGA_STEPS.filter(hasShipped)).toEqual(['commit-stock', 'done']);
  });
});

describe('the simulated gateway’s test tokens', () => {
  const first3 = (token: string) => [1, 2, 3].map((attempt) => decideCapture(token, attempt));
  it('decide like a provider’s test cards', () => {
    expect(first3('tok_approve')).toEqual(['captured', 'captured', 'captured']);
    expect(first3('tok_decline')).toEqual(['declined', 'declined', 'declined']);
    expect(first3('tok_transient')).toEqual(['unavailable', 'unavailable', 'captured']);
    expect(first3('tok_timeout')).toEqual(['timeout', 'captured', 'captured']);
    expect(first3('tok_visa_4242')).toEqual(['declined', 'declined', 'declined']);
  });
});

describe('the retry delay', () => {
  it('doubles per receive from the base, capped at 15 minutes; base 0 retries at once', () => {
    expect([1, 2, 3, 4, 5].map(retryDelay(1))).toEqual([1, 2, 4, 8, 16]);
    expect(retryDelay(60)(10)).toBe(900);
    expect([1, 5].map(retryDelay(0))).toEqual([0, 0]);
  });
});

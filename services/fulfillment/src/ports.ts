/**
 * The saga's ports: what it needs from the outside world, each call carrying an idempotency key (order id +
 * step) so a call repeated after a crash or a lost answer has its effect once. Adapters say how a call failed:
 * a TransientFailure is retried (through the message's visibility, with backoff); a PermanentFailure ends the
 * saga and compensates.
 */
import type { EventPayload } from '@securecart/contracts';

/** Try again later: the provider was unavailable, timed out, or answered 5xx. The effect may or may not exist. */
export class TransientFailure extends Error {
  override name = 'TransientFailure';
}

/** The answer is no, and asking again will not change it: a decline, no stock, an undeliverable address. */
export class PermanentFailure extends Error {
  override name = 'PermanentFailure';
}

type Placed = EventPayload<'order.placed'>;

export interface PaymentGateway {
  /** Captures a payment authorised before checkout (the token). Same key → the same capture, never a second. */
  capture(request: { idempotencyKey: string; orderId: string; token: string; amountCents: number; currency: string }): Promise<{ paymentId: string }>;
  /**
   * Voids the capture made under `captureKey` (the merchant reference), before settlement. `voided: false` when no
   * capture was ever made under it.
   */
  void(request: { idempotencyKey: string; orderId: string; captureKey: string }): Promise<{ voided: boolean }>;
  /** Refunds the capture made under `captureKey` in full. */
  refund(request: { idempotencyKey: string; orderId: string; captureKey: string }): Promise<{ refunded: boolean }>;
}

export interface ShippingProvider {
  createShipment(request: {
    idempotencyKey: string;
    orderId: string;
    address: Placed['shippingAddress'];
    lines: Placed['lines'];
  }): Promise<{ shipmentId: string; carrier: string; trackingNumber: string }>;
}

export interface StockReservations {
  /** All lines or none; PermanentFailure when a line cannot be had. Idempotent per order id. */
  reserve(orderId: string, lines: { productId: string; quantity: number }[]): Promise<{ reservationId: string }>;
  release(orderId: string): Promise<void>;
  commit(orderId: string): Promise<void>;
  /** releases its connections, when it holds any */
  close?(): Promise<void>;
}

export interface VelocityCounter {
  /** Counts this order (once, however often asked) and returns the customer's orders within the window. */
  record(customerId: string, orderId: string, windowSeconds: number): Promise<number>;
}

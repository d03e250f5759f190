/**
 * The order state machine (docs/architecture.md, Orders), as pure data and functions:
 *   PLACED → CONFIRMED → SHIPPED;  PLACED → REJECTED;  PLACED|CONFIRMED → CANCELLED;  CONFIRMED|SHIPPED → REFUNDED.
 * Anything else (including staying in the same state) is refused with an InvalidTransition.
 */

export const ORDER_STATUSES = ['PLACED', 'CONFIRMED', 'SHIPPED', 'REJECTED', 'CANCELLED', 'REFUNDED'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

const NEXT: Record<OrderStatus, readonly OrderStatus[]> = {
  PLACED: ['CONFIRMED', 'REJECTED', 'CANCELLED'],
  CONFIRMED: ['SHIPPED', 'CANCELLED', 'REFUNDED'],
  SHIPPED: ['REFUNDED'],
  REJECTED: [],
  CANCELLED: [],
  REFUNDED: [],
};

export class InvalidTransition extends Error {
  readonly from: OrderStatus;
  readonly to: OrderStatus;

  constructor(from: OrderStatus, to: OrderStatus) {
    super(`An order that is ${from} cannot become ${to}`);
    this.name = 'InvalidTransition';
    this.from = from;
    this.to = to;
  }
}

export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return NEXT[from].includes(to);
}

/** Returns `to` when the move is allowed; throws InvalidTransition otherwise. */
export function transition(from: OrderStatus, to: OrderStatus): OrderStatus {
  if (!canTransition(from, to)) throw new InvalidTransition(from, to);
  return to;
}

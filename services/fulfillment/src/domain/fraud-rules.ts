/**
 * Fraud rules (the saga's first step), pure: an order is refused when its amount is over a threshold or when its
 * customer has placed too many orders recently (the velocity count comes from Redis, counted per order id so a
 * retried step does not count twice).
 */

export interface FraudRules {
  /** orders above this many minor units are refused */
  maxOrderCents: number;
  /** more orders than this by one customer within the window are refused */
  velocityMax: number;
  velocityWindowSeconds: number;
}

export type FraudDecision = { approved: true } | { approved: false; reason: string };

export function assessFraud(rules: FraudRules, order: { totalCents: number; recentOrders: number }): FraudDecision {
  if (order.totalCents > rules.maxOrderCents) {
    return { approved: false, reason: `fraud check: the total ${order.totalCents} exceeds the limit of ${rules.maxOrderCents}` };
  }
  if (order.recentOrders > rules.velocityMax) {
    const minutes = Math.round(rules.velocityWindowSeconds / 60);
    return { approved: false, reason: `fraud check: ${order.recentOrders} orders by this customer within ${minutes} min (limit ${rules.velocityMax})` };
  }
  return { approved: true };
}

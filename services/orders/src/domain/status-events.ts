/**
 * The live status stream's wire format (Server-Sent Events, GET /api/orders/:id/events), as pure functions: one
 * `status` event per status_history row, its id the row's id (so `Last-Event-ID` resumes after it), and the
 * statuses after which the stream ends.
 */
import type { OrderStatus } from './order-status.ts';

export interface StatusEventRow {
  id: number;
  orderId: string;
  status: OrderStatus;
  reason: string | null;
  at: Date;
}

/**
 * The stream ends once one of these has been sent. SHIPPED is among them although a refund may still follow: a
 * shipped order is done as far as a live view goes; a later refund shows in GET /api/orders/:id.
 */
const CLOSING: ReadonlySet<OrderStatus> = new Set<OrderStatus>(['SHIPPED', 'REJECTED', 'CANCELLED', 'REFUNDED']);

export const closesStream = (status: OrderStatus): boolean => CLOSING.has(status);

export function formatStatusEvent(row: StatusEventRow): string {
  const data = JSON.stringify({ orderId: row.orderId, status: row.status, reason: row.reason, at: row.at.toISOString() });
  return `event: status\nid: ${row.id}\ndata: ${data}\n\n`;
}

/** A comment line: clients ignore it, proxies and load balancers see a live connection. */
export const HEARTBEAT = ': heartbeat\n\n';

/**
 * Where a stream starts (it sends the rows after `after`): after the client's Last-Event-ID when it is one this
 * order can have produced (at most the id of its newest history row), otherwise at the newest row itself, the
 * current status. `resumed` says whether the Last-Event-ID was used.
 */
export function streamCursor(latestHistoryId: number, lastEventId: number | undefined): { after: number; resumed: boolean } {
  if (lastEventId !== undefined && lastEventId <= latestHistoryId) return { after: lastEventId, resumed: true };
  return { after: latestHistoryId - 1, resumed: false };
}

/**
 * Stock reservations through the catalog's internal API (never routed by the edge). Every call is idempotent per
 * order id on the catalog's side, so a call that timed out is simply made again. 409 is the catalog saying no
 * (no stock, archived, released): permanent. Timeouts, connection errors and 5xx: transient.
 */
import { PermanentFailure, TransientFailure, type StockReservations } from '../ports.ts';

interface Problem {
  type?: string;
  detail?: string;
}

export class CatalogStockReservations implements StockReservations {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(options: { baseUrl: string; timeoutMs?: number }) {
    this.baseUrl = options.baseUrl.replace(/\/$/, '');
    this.timeoutMs = options.timeoutMs ?? 2_000;
  }

  async reserve(orderId: string, lines: { productId: string; quantity: number }[]): Promise<{ reservationId: string }> {
    const body = await this.post<{ status: string }>('/internal/reservations', { orderId, lines: lines.map(({ productId, quantity }) => ({ productId, quantity })) });
    if (body.status === 'RELEASED') throw new PermanentFailure('the stock reservation was released (the order was cancelled)');
    return { reservationId: orderId };
  }

  async release(orderId: string): Promise<void> {
    await this.post(`/internal/reservations/${orderId}/release`);
  }

  async commit(orderId: string): Promise<void> {
    await this.post(`/internal/reservations/${orderId}/commit`);
  }

  private async post<T>(path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method: 'POST',
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new TransientFailure(`catalog unreachable: ${(error as Error).message}`);
    }
    if (response.ok) return (await response.json()) as T;
    const problem = (await response.json().catch(() => ({}))) as Problem;
    const detail = problem.detail ?? `catalog answered ${response.status}`;
    if (response.status === 409 || response.status === 400 || response.status === 404) throw new PermanentFailure(detail);
    throw new TransientFailure(`catalog answered ${response.status}: ${detail}`);
  }
}

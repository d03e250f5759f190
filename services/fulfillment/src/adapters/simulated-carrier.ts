/**
 * The simulated carrier of local modes and tests ("SimPost"). The shipping address's postal code decides, like
 * test cards do for payments (docs/simulated-providers.md):
 *   00000          refused for good: the carrier cannot deliver to this address
 *   00001          the carrier is unavailable (a transient error) on every call: holds a saga before shipping
 *   anything else  a shipment with a tracking number
 * Idempotent by key through its ledger (fulfillment.simulated_shipments): a repeated call returns the first
 * shipment.
 */
import { createHash } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { inTransaction, preparedRowsOf, rowValuesOf, type Db } from '@securecart/db';
import { simulatedShipments } from '../db/schema.ts';
import { PermanentFailure, TransientFailure, type ShippingProvider } from '../ports.ts';

export const UNDELIVERABLE_POSTAL_CODE = '00000';
export const CARRIER_UNAVAILABLE_POSTAL_CODE = '00001';
export const SIMULATED_CARRIER = 'SimPost';

type ShipmentRequest = Parameters<ShippingProvider['createShipment']>[0];
type ShipmentRow = typeof simulatedShipments.$inferSelect;

/** What the carrier answers the `attempt`-th call: the postal code decides; a shipment's numbers come from its key. */
function outcomeOf(request: ShipmentRequest, attempt: number) {
  const postalCode = request.address.postalCode.trim();
  const status = postalCode === UNDELIVERABLE_POSTAL_CODE ? 'refused' : postalCode === CARRIER_UNAVAILABLE_POSTAL_CODE ? 'unavailable' : 'created';
  const digits = BigInt(`0x${createHash('sha256').update(request.idempotencyKey).digest('hex').slice(0, 15)}`).toString().padStart(12, '0').slice(0, 12);
  return { status, attempts: attempt, ...(status === 'created' ? { shipmentId: `shp_${digits}`, trackingNumber: `SP${digits}` } : {}) };
}

export class SimulatedCarrier implements ShippingProvider {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async createShipment(request: ShipmentRequest) {
    const row = (await this.firstAttempt(request)) ?? (await this.nextAttempt(request));
    if (row.status === 'refused') throw new PermanentFailure(`the carrier cannot deliver to postal code ${request.address.postalCode}`);
    if (row.status !== 'created') throw new TransientFailure(`the carrier is unavailable (attempt ${row.attempts})`);
    return { shipmentId: row.shipmentId!, carrier: SIMULATED_CARRIER, trackingNumber: row.trackingNumber! };
  }

  /** The first call with a key, the usual case: the outcome is written with the key, one statement. undefined when
   * the key is known (a retry or a replay). */
  private async firstAttempt(request: ShipmentRequest): Promise<ShipmentRow | undefined> {
    // once per order: an sql template rather than the query builder (see setOf)
    const row = rowValuesOf(simulatedShipments, { idempotencyKey: request.idempotencyKey, orderId: request.orderId, ...outcomeOf(request, 1) });
    const [created] = await preparedRowsOf(this.db, simulatedShipments, sql`insert into ${simulatedShipments} ${row} on conflict do nothing returning *`);
    return created;
  }

  /** A key seen before: its row locked, replayed once created or refused, else the next attempt decided. */
  private nextAttempt(request: ShipmentRequest): Promise<ShipmentRow> {
    return inTransaction(this.db, async (tx) => {
      await tx.insert(simulatedShipments).values({ idempotencyKey: request.idempotencyKey, orderId: request.orderId, status: 'new' }).onConflictDoNothing();
      const [existing] = await tx.select().from(simulatedShipments).where(eq(simulatedShipments.idempotencyKey, request.idempotencyKey)).for('update');
      if (existing!.status === 'created' || existing!.status === 'refused') return existing!;
      const [updated] = await tx
        .update(simulatedShipments)
        .set({ ...outcomeOf(request, existing!.attempts + 1), updatedAt: sql`now()` })
        .where(eq(simulatedShipments.idempotencyKey, request.idempotencyKey))
        .returning();
      return updated!;
    });
  }
}

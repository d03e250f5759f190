/**
 * How long the pipeline took to recover from each fault of a chaos run, read from the orders' status history after
 * the drain. Counted from the fault's end (the process started again, the server accepting connections):
 *   ready      every process answers /health/ready with 200 (measured live by the benchmark);
 *   flowing    the first order whose checkout started after the end is SHIPPED;
 *   caught up  every order caught in the fault (its checkout started before the end, and it was not final when the
 *              fault began) is final.
 */
import { percentile, query } from './harness.ts';
import { FINAL_STATUSES } from './order-invariants.ts';

export interface FaultRun {
  name: string;
  startedAt: number;
  /** the process started again, or the server accepting connections again */
  endedAt: number;
  readyAt: number;
  note: string;
}

export interface ShopperOrder {
  orderId: string;
  /** when its first POST /api/checkout started */
  startedAt: number;
  /** it bought the contested product (it may end REJECTED), or was sent where the carrier does not deliver */
  unusual: boolean;
}

export interface Recovery {
  flowingMs?: number;
  caughtUpMs?: number;
  /** orders caught in the fault */
  caught: number;
  /** of which never final */
  neverFinal: number;
  /** their longest checkout → final */
  slowestMs?: number;
  /** shoppers' retries from the fault's start to the next fault's, by cause */
  retries: Map<string, number>;
  /** checkout → SHIPPED of the ordinary orders started 15 to 5 s before the fault: the pipeline's pace before it */
  p50BeforeMs?: number;
}

const max = (values: number[]) => (values.length > 0 ? Math.max(...values) : undefined);
const min = (values: number[]) => (values.length > 0 ? Math.min(...values) : undefined);

export async function recoveries(url: string, runs: FaultRun[], orders: ShopperOrder[], retries: { at: number; cause: string }[], loadEnd: number): Promise<Recovery[]> {
  const rows = await query(url, 'select order_id, status, extract(epoch from at) * 1000 as at from orders.status_history where status::text = any($1::text[])', [FINAL_STATUSES]);
  const finalAt = new Map<string, number>();
  const shippedAt = new Map<string, number>();
  for (const r of rows) {
    const id = r.order_id as string;
    finalAt.set(id, Math.min(finalAt.get(id) ?? Infinity, Number(r.at)));
    if (r.status === 'SHIPPED') shippedAt.set(id, Number(r.at));
  }
  const ordinary = orders.filter((o) => !o.unusual && shippedAt.has(o.orderId));
  return runs.map((run, i) => {
    const windowEnd = runs[i + 1]?.startedAt ?? loadEnd;
    const caught = orders.filter((o) => o.startedAt < run.endedAt && (finalAt.get(o.orderId) ?? Infinity) > run.startedAt);
    const finals = caught.filter((o) => finalAt.has(o.orderId));
    const before = ordinary.filter((o) => o.startedAt >= run.startedAt - 15_000 && o.startedAt < run.startedAt - 5_000);
    const counts = new Map<string, number>();
    for (const r of retries) if (r.at >= run.startedAt && r.at < windowEnd) counts.set(r.cause, (counts.get(r.cause) ?? 0) + 1);
    const flowing = min(ordinary.filter((o) => o.startedAt >= run.endedAt).map((o) => shippedAt.get(o.orderId)!));
    const lastFinal = finals.length === caught.length ? max(finals.map((o) => finalAt.get(o.orderId)!)) : undefined;
    const slowest = max(finals.map((o) => finalAt.get(o.orderId)! - o.startedAt));
    return {
      ...(flowing === undefined ? {} : { flowingMs: flowing - run.endedAt }),
      ...(lastFinal === undefined ? {} : { caughtUpMs: Math.max(0, lastFinal - run.endedAt) }),
      caught: caught.length,
      neverFinal: caught.length - finals.length,
      ...(slowest === undefined ? {} : { slowestMs: slowest }),
      retries: counts,
      ...(before.length > 0 ? { p50BeforeMs: percentile(before.map((o) => shippedAt.get(o.orderId)! - o.startedAt), 50) } : {}),
    };
  });
}

const seconds = (ms: number | undefined) => (ms === undefined ? 'never' : (ms / 1000).toFixed(1));
export const countsText = (counts: Map<string, number>) => [...counts].sort((a, b) => b[1] - a[1]).map(([what, n]) => `${n} × ${what}`).join(', ') || '0';

/** The markdown table of the faults, `t0` being the load's start. */
export function faultTable(runs: FaultRun[], recovered: Recovery[], t0: number): string[] {
  return [
    '| fault (s into the load) | down s | ready s | flowing s | caught up s | orders caught in it | slowest of them, checkout → final s | shoppers\' retries until the next fault | p50 checkout → SHIPPED 15–5 s before it, ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
    ...runs.map((run, i) => {
      const r = recovered[i]!;
      // no order caught: nothing to catch up with
      const caughtUp = r.caught === 0 ? '–' : r.neverFinal > 0 ? `never (${r.neverFinal} not final)` : seconds(r.caughtUpMs);
      const slowest = r.caught === 0 ? '–' : seconds(r.slowestMs);
      return `| ${run.name} (${seconds(run.startedAt - t0)})${run.note ? `; ${run.note}` : ''} | ${seconds(run.endedAt - run.startedAt)} | ${seconds(run.readyAt - run.endedAt)} | ${seconds(r.flowingMs)} | ${caughtUp} | ${r.caught} | ${slowest} | ${countsText(r.retries)} | ${r.p50BeforeMs?.toFixed(0) ?? '–'} |`;
    }),
  ];
}

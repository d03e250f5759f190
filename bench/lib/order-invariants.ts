/**
 * What must hold in a SecureCart database once the pipeline has drained, whatever happened on the way: read from
 * every service's schema (orders, fulfillment and its simulated gateway's ledger, catalog stock and reservations,
 * notifications, the outboxes). Each check answers pass or fail with the figures behind it, so a benchmark reports
 * all of them rather than stopping at the first.
 */
import { query } from './harness.ts';

export interface Check {
  name: string;
  ok: boolean;
  /** the figures, or what is wrong, with example ids */
  detail: string;
}

export interface Expectations {
  /** order ids whose checkout was answered 202 */
  accepted: string[];
  /** those that bought the contested product: they may end REJECTED for want of stock */
  contested: string[];
  /** those sent to a postal code the carrier refuses: they must end REFUNDED, their payment voided */
  undeliverable: string[];
  contestedProductId: string;
  /** stock of every product the orders bought, before the first order */
  stockBefore: Map<string, number>;
}

export const FINAL_STATUSES = ['SHIPPED', 'REJECTED', 'CANCELLED', 'REFUNDED'];
const OUTBOXES = ['catalog', 'orders', 'fulfillment'];
/** the order events the notifications queue lets through: each is one email (every order here has an address) */
const NOTIFIED = ['confirmed', 'shipped', 'rejected', 'cancelled', 'refunded'].map((e) => `com.securecart.order.${e}`);

const examples = (ids: string[]) => (ids.length > 0 ? `: ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ' …' : ''}` : '');

export async function checkOrders(url: string, expect: Expectations): Promise<Check[]> {
  return [
    ...(await checkOneOrderPerCheckout(url, expect)),
    ...(await checkFinalStates(url, expect)),
    ...(await checkPayments(url)),
    ...(await checkStock(url, expect)),
    ...(await checkOutboxes(url)),
    ...(await checkNotifications(url)),
  ];
}

async function checkOneOrderPerCheckout(url: string, expect: Expectations): Promise<Check[]> {
  const rows = await query(url, 'select id from orders.orders');
  const orders = new Set(rows.map((r) => r.id as string));
  const accepted = new Set(expect.accepted);
  const missing = expect.accepted.filter((id) => !orders.has(id));
  const untold = [...orders].filter((id) => !accepted.has(id));
  return [
    {
      name: 'every accepted checkout (202) has exactly one order',
      ok: missing.length === 0 && accepted.size === expect.accepted.length,
      detail: `${expect.accepted.length} accepted, ${accepted.size} distinct order ids, ${missing.length} without an order${examples(missing)}`,
    },
    { name: 'no order that checkout did not accept', ok: untold.length === 0, detail: `${untold.length} orders whose checkout never answered 202${examples(untold)}` },
  ];
}

async function checkFinalStates(url: string, expect: Expectations): Promise<Check[]> {
  const rows = await query(url, 'select id, status, reason from orders.orders');
  const notFinal = rows.filter((r) => !FINAL_STATUSES.includes(r.status as string));
  const contested = new Set(expect.contested);
  const undeliverable = new Set(expect.undeliverable);
  const expected = (id: string) => (contested.has(id) ? ['SHIPPED', 'REJECTED'] : undeliverable.has(id) ? ['REFUNDED'] : ['SHIPPED']);
  const unexpected = rows.filter((r) => !expected(r.id as string).includes(r.status as string));
  const byStatus = countBy(rows.map((r) => r.status as string));
  const sagas = await query(url, "select order_id, status, step, last_error from fulfillment.sagas where status not in ('COMPLETED', 'FAILED', 'CANCELLED')");
  return [
    {
      name: 'every order in a final state (SHIPPED, REJECTED, CANCELLED, REFUNDED)',
      ok: notFinal.length === 0,
      detail: `${format(byStatus)}${examples(notFinal.map((r) => `${r.id as string} ${r.status as string}`))}`,
    },
    {
      name: 'every order ends as its choices say: SHIPPED; REFUNDED when the carrier refuses the address; SHIPPED or REJECTED for the contested product',
      ok: unexpected.length === 0,
      detail: `${unexpected.length} otherwise${examples(unexpected.map((r) => `${r.id as string} ${r.status as string} (${(r.reason as string | null) ?? ''})`))}`,
    },
    {
      name: 'no saga left running or compensating',
      ok: sagas.length === 0,
      detail: `${sagas.length} unfinished${examples(sagas.map((s) => `${s.order_id as string} ${s.status as string} at ${s.step as string}: ${(s.last_error as string | null) ?? ''}`))}`,
    },
  ];
}

async function checkPayments(url: string): Promise<Check[]> {
  const captures = await query(url, `
    select o.id, o.status, count(p.payment_id)::int as captures,
           count(*) filter (where p.status = 'captured')::int as standing
    from orders.orders o left join fulfillment.simulated_payments p on p.order_id = o.id and p.operation = 'capture' and p.payment_id is not null
    group by o.id, o.status`);
  const twice = captures.filter((c) => c.captures > 1);
  const unreversed = captures.filter((c) => c.status !== 'SHIPPED' && c.standing > 0);
  const shippedUnpaid = captures.filter((c) => c.status === 'SHIPPED' && c.standing !== 1);
  const label = (c: { id: string; status: string; captures: number }) => `${c.id} ${c.status} (${c.captures} captures)`;
  return [
    { name: 'at most one capture per order', ok: twice.length === 0, detail: `${twice.length} orders captured twice${examples(twice.map(label))}` },
    {
      name: 'every capture of an order that did not ship voided or refunded',
      ok: unreversed.length === 0,
      detail: `${captures.filter((c) => c.status !== 'SHIPPED' && c.captures > 0).length} captured and reversed, ${unreversed.length} still captured${examples(unreversed.map(label))}`,
    },
    { name: 'every SHIPPED order paid by exactly one standing capture', ok: shippedUnpaid.length === 0, detail: `${shippedUnpaid.length} not${examples(shippedUnpaid.map(label))}` },
  ];
}

async function checkStock(url: string, expect: Expectations): Promise<Check[]> {
  const ids = [...expect.stockBefore.keys()];
  const stock = new Map((await query(url, 'select id, stock from catalog.products where id = any($1::uuid[])', [ids])).map((r) => [r.id as string, Number(r.stock)]));
  const negative = await query(url, 'select id, stock from catalog.products where stock < 0');
  const units = async (status: string) =>
    new Map(
      (await query(url, `
        select (l->>'productId') as product_id, sum((l->>'quantity')::int)::int as units
        from catalog.reservations r, jsonb_array_elements(r.lines) l where r.status = $1 group by 1`, [status])).map((r) => [r.product_id as string, Number(r.units)]),
    );
  const committed = await units('COMMITTED');
  const held = await units('RESERVED');
  const leaks = ids.filter((id) => expect.stockBefore.get(id)! !== stock.get(id)! + (committed.get(id) ?? 0) + (held.get(id) ?? 0));
  const race = expect.contestedProductId;
  const raceStock = expect.stockBefore.get(race)!;
  const [shipped] = await query(url, "select count(*)::int as n from orders.orders where status = 'SHIPPED' and id = any($1::uuid[])", [expect.contested]);
  const sold = committed.get(race) ?? 0;
  return [
    { name: 'no stock below zero', ok: negative.length === 0, detail: `${negative.length} products${examples(negative.map((r) => `${r.id as string} ${r.stock as number}`))}` },
    {
      name: `no unit of the contested product oversold (stock ${raceStock})`,
      ok: shipped.n <= raceStock && sold <= raceStock,
      detail: `${shipped.n} of its orders SHIPPED, ${sold} units committed, ${stock.get(race)} left`,
    },
    {
      name: 'every unit accounted for: stock before = stock now + committed + still reserved',
      ok: leaks.length === 0,
      detail: `${ids.length} products, ${leaks.length} off${examples(leaks.map((id) => `${id}: ${expect.stockBefore.get(id)} ≠ ${stock.get(id)} + ${committed.get(id) ?? 0} + ${held.get(id) ?? 0}`))}`,
    },
    { name: 'no reservation left RESERVED', ok: [...held.values()].every((n) => n === 0), detail: `${[...held.values()].reduce((a, b) => a + b, 0)} units still reserved` },
  ];
}

async function checkOutboxes(url: string): Promise<Check[]> {
  const waiting = await Promise.all(
    OUTBOXES.map(async (schema) => {
      const [row] = await query(url, `select count(*) filter (where published_at is null)::int as n, count(*) filter (where dead_at is not null)::int as dead from ${schema}.outbox`);
      return { schema, n: row.n as number, dead: row.dead as number };
    }),
  );
  return [{
    name: 'every outbox empty (catalog, orders, fulfillment: no unpublished or dead row)',
    ok: waiting.every((w) => w.n === 0),
    detail: waiting.map((w) => `${w.schema} ${w.n}${w.dead ? ` (${w.dead} dead)` : ''}`).join(', '),
  }];
}

async function checkNotifications(url: string): Promise<Check[]> {
  const [row] = await query(url, `
    select (select count(*) from orders.outbox where type = any($1::text[]))::int as events,
           (select count(distinct event_id) from notifications.deliveries where status = 'SENT' and channel = 'email')::int as sent,
           (select count(*) from notifications.deliveries where status <> 'SENT')::int as unsent`, [NOTIFIED]);
  return [{
    name: 'every order email sent once (confirmed, shipped, rejected …)',
    ok: row.events === row.sent && row.unsent === 0,
    detail: `${row.events} order events to tell, ${row.sent} emails sent, ${row.unsent} deliveries not sent`,
  }];
}

function countBy(values: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

const format = (counts: Map<string, number>) => [...counts].map(([k, n]) => `${n} ${k}`).join(', ');

import { describe, expect, it } from 'vitest';
import { OrderStatus } from '@securecart/contracts';
import { canTransition, InvalidTransition, ORDER_STATUSES, transition, type OrderStatus as Status } from '../src/domain/order-status.ts';
import { decodeListCursor, encodeListCursor } from '../src/domain/order-view.ts';

/** The order state machine, written out as the table it is. */
const ALLOWED = new Set([
  'PLACED>CONFIRMED',
  'CONFIRMED>SHIPPED',
  'PLACED>REJECTED',
  'PLACED>CANCELLED',
  'CONFIRMED>CANCELLED',
  'CONFIRMED>REFUNDED',
  'SHIPPED>REFUNDED',
]);

const pairs = ORDER_STATUSES.flatMap((from) => ORDER_STATUSES.map((to) => [from, to] as [Status, Status]));

describe('the order state machine', () => {
  it('knows six states, the same six the API contract names', () => {
    expect(ORDER_STATUSES).toEqual(['PLACED', 'CONFIRMED', 'SHIPPED', 'REJECTED', 'CANCELLED', 'REFUNDED']);
    expect(OrderStatus.anyOf.map((s) => s.const)).toEqual([...ORDER_STATUSES]);
    expect(pairs).toHaveLength(36);
  });

  it.each(pairs.filter(([from, to]) => ALLOWED.has(`${from}>${to}`)))('allows %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    expect(transition(from, to)).toBe(to);
  });

  it.each(pairs.filter(([from, to]) => !ALLOWED.has(`${from}>${to}`)))('refuses %s → %s with an InvalidTransition', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
    let thrown: unknown;
    try {
      transition(from, to);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidTransition);
    expect(thrown).toMatchObject({ from, to, message: `An order that is ${from} cannot become ${to}` });
  });

  it('allows exactly the seven transitions of the state machine and no other', () => {
    expect(pairs.filter(([from, to]) => canTransition(from, to)).map(([from, to]) => `${from}>${to}`).sort()).toEqual([...ALLOWED].sort());
  });
});

describe('order list cursors', () => {
  it('round-trip a position and refuse forged ones', () => {
    const position = { createdAt: new Date('2025-03-01T10:20:30.456Z'), id: '0190a0b0-0000-7000-8000-000000000001' };
    expect(decodeListCursor(encodeListCursor(position))).toEqual(position);
    expect(decodeListCursor('bm9wZQ')).toBeUndefined();
    expect(decodeListCursor(Buffer.from('["2025-03-01T10:20:30.456Z","not-a-uuid"]').toString('base64url'))).toBeUndefined();
    expect(decodeListCursor(Buffer.from('["yesterday","0190a0b0-0000-7000-8000-000000000001"]').toString('base64url'))).toBeUndefined();
  });

  it('refuse a position in year 0000, which JavaScript dates have and Postgres timestamps do not (it was a 500)', () => {
    const cursor = (at: string) => Buffer.from(JSON.stringify([at, '0190a0b0-0000-7000-8000-000000000001'])).toString('base64url');
    expect(decodeListCursor(cursor('0000-01-01T00:00:00.000Z'))).toBeUndefined();
    expect(decodeListCursor(cursor('0001-01-01T00:00:00.000Z'))?.createdAt.toISOString()).toBe('0001-01-01T00:00:00.000Z');
  });
});

import { describe, expect, it } from 'vitest';
import { ORDER_STATUSES } from '../src/domain/order-status.ts';
import { closesStream, formatStatusEvent, HEARTBEAT, streamCursor } from '../src/domain/status-events.ts';

describe('the live status stream’s format', () => {
  it('writes a history row as one `status` event whose id is the row’s id and whose data is one line of JSON', () => {
    const text = formatStatusEvent({ id: 42, orderId: 'o-1', status: 'CANCELLED', reason: 'line one\nline two', at: new Date('2025-01-02T03:04:05.678Z') });
    expect(text).toBe(
      'event: status\nid: 42\ndata: {"orderId":"o-1","status":"CANCELLED","reason":"line one\\nline two","at":"2025-01-02T03:04:05.678Z"}\n\n',
    );
  });

  it('sends heartbeats as comment lines, which clients ignore', () => {
    expect(HEARTBEAT).toMatch(/^:.*\n\n$/);
  });

  it('ends after SHIPPED, REJECTED, CANCELLED and REFUNDED, and only those', () => {
    expect(ORDER_STATUSES.filter(closesStream)).toEqual(['SHIPPED', 'REJECTED', 'CANCELLED', 'REFUNDED']);
  });

  it('starts at the current status, or after a Last-Event-ID this order can have produced', () => {
    expect(streamCursor(10, undefined)).toEqual({ after: 9, resumed: false });
    expect(streamCursor(10, 7)).toEqual({ after: 7, resumed: true });
    expect(streamCursor(10, 10)).toEqual({ after: 10, resumed: true });
    expect(streamCursor(10, 11)).toEqual({ after: 9, resumed: false });
  });
});

import { describe, expect, it } from 'vitest';
import { ConcurrencyLimit } from '../src/concurrency-limit.ts';
import { deliveryKey, maskRecipient, planDeliveries } from '../src/domain/deliveries.ts';

const eventId = '0b9c1e2d-3f4a-4b5c-8d6e-7f8091a2b3c4';

describe('planning deliveries', () => {
  it('makes one delivery per contact channel, keyed by event id and channel', () => {
    expect(planDeliveries(eventId, { email: 'ada@example.com', phone: '+447700900123' })).toEqual([
      { channel: 'email', recipient: 'ada@example.com', key: `${eventId}-email` },
      { channel: 'sms', recipient: '+447700900123', key: `${eventId}-sms` },
    ]);
    expect(planDeliveries(eventId, { phone: '+447700900123' })).toEqual([{ channel: 'sms', recipient: '+447700900123', key: `${eventId}-sms` }]);
  });

  it('makes none for an order without contact', () => {
    expect(planDeliveries(eventId, {})).toEqual([]);
  });

  it('uses keys that are file names and SES tag values as they are', () => {
    expect(deliveryKey(eventId, 'email')).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});

describe('masking recipients for logs', () => {
  it('keeps the first letter and the domain of an email address', () => {
    expect(maskRecipient('ada.lovelace@example.com')).toBe('a***@example.com');
  });

  it('keeps the country code and the last two digits of a phone number', () => {
    expect(maskRecipient('+447700900123')).toBe('+44********23');
    expect(maskRecipient('+1234')).toBe('*****');
  });
});

describe('the concurrency limit', () => {
  it('never runs more than its bound at once, and runs everything in turn', async () => {
    const limit = new ConcurrencyLimit(2);
    let active = 0;
    let peak = 0;
    const releases: (() => void)[] = [];
    const done: number[] = [];
    const runs = Array.from({ length: 5 }, (_, i) =>
      limit.run(async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise<void>((resolve) => releases.push(resolve));
        active--;
        done.push(i);
      }),
    );
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    await settle();
    expect(active).toBe(2);
    while (done.length < 5) {
      releases.shift()?.();
      // a caller arriving just as a slot is handed over must wait too
      const late = limit.run(async () => {
        peak = Math.max(peak, active + 1);
      });
      runs.push(late);
      await settle();
    }
    await Promise.all(runs);
    expect(peak).toBe(2);
    expect(done).toEqual([0, 1, 2, 3, 4]);
  });

  it('frees its slot when the work throws', async () => {
    const limit = new ConcurrencyLimit(1);
    await expect(limit.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(limit.run(async () => 'next')).resolves.toBe('next');
  });
});

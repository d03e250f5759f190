import { describe, expect, it } from 'vitest';
import type { EventPayload } from '@securecart/contracts';
import {
  formatMoney, NOTIFICATION_EVENTS, renderNotification, shortOrderNumber, SMS_MAX_LENGTH, type NotificationEvent,
} from '../src/domain/templates.ts';

const orderId = '3f2a9c1e-7b4d-4e8a-9c2b-1d5e6f7a8b9c';
const base = { orderId, customerId: 'customer-1', contact: { email: 'ada@example.com' } };

const samples: { [N in NotificationEvent]: EventPayload<N> } = {
  'order.confirmed': { ...base, totalCents: 3700, currency: 'USD' },
  'order.shipped': { ...base, carrier: 'UPS', trackingNumber: '1Z999AA10123456784' },
  'order.rejected': { ...base, reason: 'the payment was declined' },
  'order.cancelled': { ...base, reason: 'cancelled at your request' },
  'order.refunded': { ...base, amountCents: 1250, currency: 'EUR' },
};

const render = <N extends NotificationEvent>(name: N, data: EventPayload<N>, shopName = 'SecureCart') => renderNotification(name, data, { shopName });
/** GSM 03.38 basic alphabet and its extension table: what one 160-character SMS can hold. */
const GSM_7 = /^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&'()*+,\-./0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà^{}\\[~\]|€]*$/;

describe('order numbers and amounts', () => {
  it('names an order by the first 8 characters of its id, upper case', () => {
    expect(shortOrderNumber(orderId)).toBe('#3F2A9C1E');
  });

  it('formats integer minor units with the currency’s own decimals', () => {
    expect(formatMoney(3700, 'USD')).toBe('$37.00');
    expect(formatMoney(1999, 'USD')).toBe('$19.99');
    expect(formatMoney(123456789, 'USD')).toBe('$1,234,567.89');
    expect(formatMoney(1250, 'EUR')).toBe('€12.50');
    expect(formatMoney(999, 'GBP')).toBe('£9.99');
    expect(formatMoney(1500, 'JPY')).toBe('¥1,500');
    expect(formatMoney(1234, 'KWD')).toBe('KWD 1.234');
    expect(formatMoney(0, 'USD')).toBe('$0.00');
  });

  it('formats for another locale when asked, with plain spaces only', () => {
    expect(formatMoney(1250, 'EUR', 'de-DE')).toBe('12,50 €');
    expect(formatMoney(1250, 'CHF')).toBe('CHF 12.50');
  });
});

describe('the messages', () => {
  it('confirms an order with its number and total', () => {
    const m = render('order.confirmed', samples['order.confirmed']);
    expect(m.subject).toBe('Your SecureCart order #3F2A9C1E is confirmed');
    expect(m.text).toMatch(/^Hello,\n\n/);
    expect(m.text).toContain('your order #3F2A9C1E is confirmed');
    expect(m.text).toContain('Order total: $37.00');
    expect(m.text).toContain(`Order reference: ${orderId}`);
    expect(m.text).toContain('The SecureCart team');
    expect(m.sms).toBe('SecureCart: your order #3F2A9C1E is confirmed. Total $37.00. We will let you know when it ships.');
  });

  it('tells that an order shipped, with the carrier and the tracking number', () => {
    const m = render('order.shipped', samples['order.shipped']);
    expect(m.subject).toBe('Your SecureCart order #3F2A9C1E has shipped');
    expect(m.text).toContain('Carrier: UPS\nTracking number: 1Z999AA10123456784');
    expect(m.sms).toBe('SecureCart: your order #3F2A9C1E has shipped with UPS. Tracking number: 1Z999AA10123456784');
  });

  it('explains a rejection with its reason and what happens to the payment', () => {
    const m = render('order.rejected', samples['order.rejected']);
    expect(m.subject).toBe('We could not accept your SecureCart order #3F2A9C1E');
    expect(m.text).toContain('Reason: the payment was declined');
    expect(m.text).toContain('Any payment for this order has been cancelled');
    expect(m.sms).toContain('(the payment was declined)');
  });

  it('confirms a cancellation with its reason', () => {
    const m = render('order.cancelled', samples['order.cancelled']);
    expect(m.subject).toBe('Your SecureCart order #3F2A9C1E has been cancelled');
    expect(m.text).toContain('Reason: cancelled at your request');
    expect(m.text).toContain('If you did not ask for this cancellation');
    expect(m.sms).toBe('SecureCart: your order #3F2A9C1E has been cancelled (cancelled at your request). Any payment will be returned to you.');
  });

  it('announces a refund with its amount in its currency', () => {
    const m = render('order.refunded', samples['order.refunded']);
    expect(m.subject).toBe('Refund of €12.50 for your SecureCart order #3F2A9C1E');
    expect(m.text).toContain('We have refunded €12.50 for your order #3F2A9C1E.');
    expect(m.sms).toContain('we have refunded €12.50 for your order #3F2A9C1E');
  });

  it('uses the configured shop name everywhere', () => {
    for (const name of NOTIFICATION_EVENTS) {
      const m = render(name, samples[name] as never, 'Kettle & Co');
      expect(m.subject).toContain('Kettle & Co');
      expect(m.text).toContain('The Kettle & Co team');
      expect(m.sms.startsWith('Kettle & Co: ')).toBe(true);
    }
  });

  it.each(NOTIFICATION_EVENTS)('keeps the %s SMS to one GSM 7-bit message, with its order number', (name) => {
    const { sms } = render(name, samples[name] as never);
    expect(sms.length).toBeLessThanOrEqual(SMS_MAX_LENGTH);
    expect(sms).toMatch(GSM_7);
    expect(sms).toContain('#3F2A9C1E');
    expect(sms).not.toContain('\n');
  });

  it('shortens a long reason to fit the SMS, never the order number, and keeps the email whole', () => {
    const reason = `the fraud check flagged this order: ${'velocity limit exceeded for this card and address, '.repeat(6)}`;
    const m = render('order.rejected', { ...base, reason }, 'A Shop With A Rather Long Name Indeed Ltd');
    expect(m.sms.length).toBeLessThanOrEqual(SMS_MAX_LENGTH);
    expect(m.sms).toContain('#3F2A9C1E');
    expect(m.sms).toMatch(/\.\.\.\)\. Any payment for it has been cancelled\.$/);
    expect(m.text).toContain(`Reason: ${reason}`);
  });

  it('puts a multi-line reason on one SMS line', () => {
    const m = render('order.cancelled', { ...base, reason: 'out of stock:\n  Kettle' });
    expect(m.sms).toContain('(out of stock: Kettle)');
  });

  it('keeps an SMS within 160 characters whatever the facts', () => {
    const long = 'x'.repeat(400);
    const shipped = render('order.shipped', { ...base, carrier: long, trackingNumber: 'TRACK123' }, 'S'.repeat(40));
    expect(shipped.sms.length).toBeLessThanOrEqual(SMS_MAX_LENGTH);
    expect(shipped.sms).toContain('Tracking number: TRACK123');
    const huge = render('order.shipped', { ...base, carrier: 'DHL', trackingNumber: long }, 'S'.repeat(40));
    expect(huge.sms.length).toBeLessThanOrEqual(SMS_MAX_LENGTH);
    const refunded = render('order.refunded', { ...base, amountCents: Number.MAX_SAFE_INTEGER, currency: 'USD' }, 'S'.repeat(40));
    expect(refunded.sms.length).toBeLessThanOrEqual(SMS_MAX_LENGTH);
  });
});

/**
 * What the customer reads: for each order event the notifications queue carries, an email (subject and
 * plain-text body) and an SMS of at most 160 characters. Pure: no I/O, no clock, no configuration beyond what is
 * passed in.
 *
 * Orders are named by their short number (`#1A2B3C4D`, the first 8 characters of the id); the email also gives
 * the full id as the reference customer service searches by. Amounts arrive in integer minor units and are
 * formatted with their currency's own number of decimals (JPY has none, KWD three).
 * The SMS is kept to one 160-character message: when a free-text fact (a reason, a carrier) would make it longer,
 * that fact is shortened with "...", never the order number. The fixed wording is plain ASCII so that, unless a
 * fact brings other characters, the SMS stays in the GSM 7-bit alphabet (a character outside it makes the
 * carrier use UCS-2, where one message holds 70 characters and SNS bills several).
 */
import type { EventPayload } from '@securecart/contracts';

export const NOTIFICATION_EVENTS = ['order.confirmed', 'order.shipped', 'order.rejected', 'order.cancelled', 'order.refunded'] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

export interface RenderedNotification {
  subject: string;
  /** the plain-text email body */
  text: string;
  /** at most SMS_MAX_LENGTH characters */
  sms: string;
}

export interface TemplateOptions {
  /** the shop's name as customers know it */
  shopName: string;
  /** BCP 47 locale for amounts; default en-US */
  locale?: string;
}

export const SMS_MAX_LENGTH = 160;

/** `3f2a9c1e-...` → `#3F2A9C1E` */
export function shortOrderNumber(orderId: string): string {
  return `#${orderId.replace(/-/g, '').slice(0, 8).toUpperCase()}`;
}

/** Number formats by locale and currency: making one costs far more than using it (ISO 4217 bounds the cache). */
const moneyFormats = new Map<string, Intl.NumberFormat>();

function moneyFormat(locale: string, currency: string): Intl.NumberFormat {
  const key = `${locale}|${currency}`;
  let format = moneyFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(locale, { style: 'currency', currency });
    moneyFormats.set(key, format);
  }
  return format;
}

/** Integer minor units in their currency: (1999, 'USD') → `$19.99`, (1500, 'JPY') → `¥1,500`, (1234, 'KWD') → `KWD 1.234`. */
export function formatMoney(minorUnits: number, currency: string, locale = 'en-US'): string {
  const format = moneyFormat(locale, currency);
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  // Plain spaces: a no-break space is invisible in plain text and would push an SMS out of GSM 7-bit.
  return format.format(minorUnits / 10 ** digits).replace(/[\u00a0\u202f]/g, ' ');
}

/** Shortens `value` (by characters, not UTF-16 units) to at most `room`, ending in "...". */
function shorten(value: string, room: number): string {
  const chars = Array.from(value);
  if (chars.length <= room) return value;
  if (room < 4) return '';
  return `${chars.slice(0, room - 3).join('').trimEnd()}...`;
}

/** One line, at most 160 characters: `build(fact)` with `fact` shortened as much as needed. */
function fitSms(build: (fact: string) => string, fact: string): string {
  const oneLine = fact.replace(/\s+/g, ' ').trim();
  const full = build(oneLine);
  const length = Array.from(full).length;
  if (length <= SMS_MAX_LENGTH) return full;
  // what the message takes around the fact (a fact that cannot keep 4 characters is left out, with its wording)
  const room = SMS_MAX_LENGTH - (length - Array.from(oneLine).length);
  return Array.from(build(shorten(oneLine, room))).slice(0, SMS_MAX_LENGTH).join('');
}

function email(shopName: string, orderId: string, paragraphs: string[]): string {
  return [
    'Hello,',
    ...paragraphs,
    `Order number: ${shortOrderNumber(orderId)}\nOrder reference: ${orderId}`,
    `Thank you,\nThe ${shopName} team`,
    '-- \nThis is a service message about your order. Replies to this address are not read.',
  ].join('\n\n') + '\n';
}

type Templates = { [N in NotificationEvent]: (data: EventPayload<N>, options: Required<TemplateOptions>) => RenderedNotification };

const templates: Templates = {
  'order.confirmed': (data, { shopName, locale }) => {
    const n = shortOrderNumber(data.orderId);
    const total = formatMoney(data.totalCents, data.currency, locale);
    return {
      subject: `Your ${shopName} order ${n} is confirmed`,
      text: email(shopName, data.orderId, [
        `Thank you for shopping with ${shopName}. We have received your payment and your order ${n} is confirmed.`,
        `Order total: ${total}`,
        'We are preparing it now and will write again with the tracking details as soon as it ships.',
      ]),
      sms: fitSms(() => `${shopName}: your order ${n} is confirmed. Total ${total}. We will let you know when it ships.`, ''),
    };
  },
  'order.shipped': (data, { shopName }) => {
    const n = shortOrderNumber(data.orderId);
    return {
      subject: `Your ${shopName} order ${n} has shipped`,
      text: email(shopName, data.orderId, [
        `Good news: your order ${n} is on its way.`,
        `Carrier: ${data.carrier}\nTracking number: ${data.trackingNumber}`,
        'You can follow your parcel on the carrier’s website with this tracking number. It may take a few hours before the carrier shows the first update.',
      ]),
      sms: fitSms(
        (carrier) => `${shopName}: your order ${n} has shipped${carrier ? ` with ${carrier}` : ''}. Tracking number: ${data.trackingNumber.replace(/\s+/g, '')}`,
        data.carrier,
      ),
    };
  },
  'order.rejected': (data, { shopName }) => {
    const n = shortOrderNumber(data.orderId);
    return {
      subject: `We could not accept your ${shopName} order ${n}`,
      text: email(shopName, data.orderId, [
        `We are sorry: we could not accept your order ${n}, and it will not be shipped.`,
        `Reason: ${data.reason}`,
        'Any payment for this order has been cancelled. If your bank reserved an amount on your card for it, the bank will release it, usually within a few days.',
        'You are welcome to place a new order at any time.',
      ]),
      sms: fitSms((reason) => `${shopName}: sorry, we could not accept your order ${n}${reason ? ` (${reason})` : ''}. Any payment for it has been cancelled.`, data.reason),
    };
  },
  'order.cancelled': (data, { shopName }) => {
    const n = shortOrderNumber(data.orderId);
    return {
      subject: `Your ${shopName} order ${n} has been cancelled`,
      text: email(shopName, data.orderId, [
        `Your order ${n} has been cancelled and will not be shipped.`,
        `Reason: ${data.reason}`,
        'If you were charged for this order, the payment goes back to your original payment method; depending on your bank, this can take 5 to 10 business days.',
        'If you did not ask for this cancellation, please contact our customer service with the order reference below.',
      ]),
      sms: fitSms((reason) => `${shopName}: your order ${n} has been cancelled${reason ? ` (${reason})` : ''}. Any payment will be returned to you.`, data.reason),
    };
  },
  'order.refunded': (data, { shopName, locale }) => {
    const n = shortOrderNumber(data.orderId);
    const amount = formatMoney(data.amountCents, data.currency, locale);
    return {
      subject: `Refund of ${amount} for your ${shopName} order ${n}`,
      text: email(shopName, data.orderId, [
        `We have refunded ${amount} for your order ${n}.`,
        'The money goes back to your original payment method. Depending on your bank, it can take 5 to 10 business days to appear on your statement.',
      ]),
      sms: fitSms(() => `${shopName}: we have refunded ${amount} for your order ${n}. It can take 5 to 10 business days to reach your account.`, ''),
    };
  },
};

export function isNotificationEvent(name: string): name is NotificationEvent {
  return (NOTIFICATION_EVENTS as readonly string[]).includes(name);
}

export function renderNotification<N extends NotificationEvent>(name: N, data: EventPayload<N>, options: TemplateOptions): RenderedNotification {
  const render = templates[name] as (data: EventPayload<N>, options: Required<TemplateOptions>) => RenderedNotification;
  return render(data, { locale: 'en-US', ...options });
}

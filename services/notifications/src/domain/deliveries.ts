/**
 * Which deliveries an event makes, and how each is named. Every contact channel the order carries gets exactly
 * one delivery per event, identified by its delivery key `<event id>-<channel>`: the key of the delivery log row,
 * the local sink's file name and the idempotency key handed to a provider. An event without any contact makes
 * none (the handler records it as skipped). Pure.
 */
import type { EventPayload } from '@securecart/contracts';

export const CHANNELS = ['email', 'sms'] as const;
export type Channel = (typeof CHANNELS)[number];

export type Contact = EventPayload<'order.confirmed'>['contact'];

export interface PlannedDelivery {
  channel: Channel;
  /** an email address or an E.164 phone number */
  recipient: string;
  key: string;
}

/** `<event id>-<channel>`: letters, digits and dashes only, so it is a file name, an SES tag value and a log field as is. */
export const deliveryKey = (eventId: string, channel: Channel | 'none'): string => `${eventId}-${channel}`;

export function planDeliveries(eventId: string, contact: Contact): PlannedDelivery[] {
  const planned: PlannedDelivery[] = [];
  if (contact.email) planned.push({ channel: 'email', recipient: contact.email, key: deliveryKey(eventId, 'email') });
  if (contact.phone) planned.push({ channel: 'sms', recipient: contact.phone, key: deliveryKey(eventId, 'sms') });
  return planned;
}

/**
 * A recipient as logs may show it: enough to tell two apart when helping a customer, not enough to contact them.
 * `ada.lovelace@example.com` → `a***@example.com`, `+447700900123` → `+44********23`.
 */
export function maskRecipient(recipient: string): string {
  const at = recipient.lastIndexOf('@');
  if (at > 0) return `${recipient[0]}***${recipient.slice(at)}`;
  if (recipient.length <= 5) return '*'.repeat(recipient.length);
  return `${recipient.slice(0, 3)}${'*'.repeat(recipient.length - 5)}${recipient.slice(-2)}`;
}

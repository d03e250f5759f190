/**
 * Tells the customer about their order: each of the five order events on the `notifications` queue
 * (confirmed, shipped, rejected, cancelled, refunded) becomes an email and/or an SMS, one per contact channel
 * the order carries, each delivered at most once per event id by deliverOnce (db/deliveries-repo.ts, where the
 * crash window is described). The five types differ only in their words (domain/templates.ts), so one handler
 * serves them all.
 *
 * An event without any contact is recorded as skipped. When another handler holds a delivery (a duplicate of the
 * message in flight), the message comes back when that handler's lease runs out. When a channel fails, the others
 * are still attempted; then the handler throws, so the message is retried with backoff and, after 5 receives, dead-lettered; a retry
 * repeats only the channels not yet SENT. Logs show recipients masked.
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { EventPayload } from '@securecart/contracts';
import type { Db } from '@securecart/db';
import { eventNameOf, retryLater, type CloudEvent, type EventHandler } from '@securecart/messaging';
import type { SendResult, Senders } from '../channels/ports.ts';
import { ConcurrencyLimit } from '../concurrency-limit.ts';
import { deliverOnce, recordSkipped } from '../db/deliveries-repo.ts';
import { maskRecipient, planDeliveries, type PlannedDelivery } from '../domain/deliveries.ts';
import { isNotificationEvent, NOTIFICATION_EVENTS, renderNotification, type NotificationEvent, type RenderedNotification } from '../domain/templates.ts';

export interface NotificationHandlerDeps {
  /** the primary */
  db: Db;
  senders: Senders;
  log?: Logger;
  /** the shop's name in every message; default SecureCart */
  shopName?: string;
  /** BCP 47 locale for amounts; default en-US */
  locale?: string;
  /** deliveries in flight at once across all messages; default 8 */
  concurrency?: number;
  /** where to count deliveries (notification_deliveries_total{channel,outcome}) */
  metrics?: Registry;
}

export class DeliveryFailedError extends Error {
  override name = 'DeliveryFailedError';
}

function deliveriesCounter(registry: Registry | undefined) {
  if (!registry) return undefined;
  const name = 'notification_deliveries_total';
  return (
    (registry.getSingleMetric(name) as Counter<'channel' | 'outcome'> | undefined) ??
    new Counter({ name, help: 'Notification deliveries by channel and outcome (sent, duplicate, in_progress, failed, skipped)', labelNames: ['channel', 'outcome'], registers: [registry] })
  );
}

/** A provider's error message may quote the recipient (SES does, in the sandbox): logs get it masked. */
const redact = (text: string, recipient: string) => text.split(recipient).join(maskRecipient(recipient));

/** The handler for one notification event type; the same function serves all five. */
export function orderNotificationHandler(deps: NotificationHandlerDeps): EventHandler {
  const limit = new ConcurrencyLimit(deps.concurrency ?? 8);
  const counted = deliveriesCounter(deps.metrics);
  const shopName = deps.shopName ?? 'SecureCart';

  const send = (delivery: PlannedDelivery, message: RenderedNotification, event: CloudEvent, orderId: string): Promise<SendResult> => {
    const context = { idempotencyKey: delivery.key, orderId, eventType: event.type };
    return delivery.channel === 'email'
      ? deps.senders.email.send({ to: delivery.recipient, subject: message.subject, text: message.text }, context)
      : deps.senders.sms.send({ to: delivery.recipient, text: message.sms }, context);
  };

  return async (event: CloudEvent) => {
    const name = eventNameOf(event.type);
    if (!name || !isNotificationEvent(name)) throw new Error(`${event.type} is not a notification event`);
    // The consumer has validated `data` against the schema of the event's type.
    const data = event.data as EventPayload<NotificationEvent>;
    const log = deps.log?.child({ eventId: event.id, orderId: data.orderId, type: name });
    const planned = planDeliveries(event.id, data.contact);

    if (planned.length === 0) {
      const recorded = await recordSkipped(deps.db, { eventId: event.id, orderId: data.orderId, type: event.type });
      if (recorded) counted?.inc({ channel: 'none', outcome: 'skipped' });
      log?.info({ recorded }, 'the order has no email address or phone number: nobody to tell');
      return;
    }

    const message = renderNotification(name, data, { shopName, ...(deps.locale ? { locale: deps.locale } : {}) });
    const failures: string[] = [];
    let retryInSeconds = 0;
    for (const delivery of planned) {
      const recipient = maskRecipient(delivery.recipient);
      const request = { eventId: event.id, channel: delivery.channel, orderId: data.orderId, type: event.type, recipient: delivery.recipient };
      const result = await limit.run(() => deliverOnce(deps.db, request, () => send(delivery, message, event, data.orderId)));
      const fields = { deliveryKey: delivery.key, channel: delivery.channel, recipient, attempts: result.attempts };
      if (result.outcome === 'sent') {
        counted?.inc({ channel: delivery.channel, outcome: 'sent' });
        log?.info({ ...fields, providerMessageId: result.messageId }, `${delivery.channel} sent`);
      } else if (result.outcome === 'already-sent') {
        counted?.inc({ channel: delivery.channel, outcome: 'duplicate' });
        log?.info(fields, `${delivery.channel} already sent for this event: not repeated`);
      } else if (result.outcome === 'in-progress') {
        counted?.inc({ channel: delivery.channel, outcome: 'in_progress' });
        log?.info({ ...fields, retryInSeconds: result.retryInSeconds }, `${delivery.channel} is being sent by another handler: looked at again when its lease runs out`);
        retryInSeconds = Math.max(retryInSeconds, result.retryInSeconds);
      } else {
        counted?.inc({ channel: delivery.channel, outcome: 'failed' });
        const reason = result.error instanceof Error ? result.error.message : String(result.error);
        failures.push(`${delivery.channel} delivery ${delivery.key} to ${recipient} failed (attempt ${result.attempts}): ${redact(reason, delivery.recipient)}`);
      }
    }
    // Logged by the consumer with the receive count and when it will be retried.
    if (failures.length > 0) throw new DeliveryFailedError(failures.join('; '));
    // Another handler holds a delivery (a duplicate of this message, or one that died while sending): back once
    // its lease has run out, to find it SENT or to take it over.
    if (retryInSeconds > 0) return retryLater('another handler is sending this event', retryInSeconds);
  };
}

/** The handlers map for a QueueConsumer on the `notifications` queue: the five order events, one handler. */
export function notificationHandlers(deps: NotificationHandlerDeps): Record<NotificationEvent, EventHandler> {
  const handle = orderNotificationHandler(deps);
  return Object.fromEntries(NOTIFICATION_EVENTS.map((name) => [name, handle])) as Record<NotificationEvent, EventHandler>;
}

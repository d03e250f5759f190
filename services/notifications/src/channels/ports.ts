/**
 * The channels as ports: the handler knows an EmailSender and an SmsSender, nothing about SES, SNS or files.
 * Adapters: SES (ses-email-sender.ts) and SNS (sns-sms-sender.ts) in AWS; the local sink (local-sink.ts) in
 * embedded mode, compose and tests.
 *
 * Every send carries the delivery's idempotency key (`<event id>-<channel>`). An adapter whose provider can
 * deduplicate by it must (the local sink does: the key is its file name); SES and SNS SMS cannot, and put it
 * where it can at least be traced (an SES message tag).
 * A send that throws has failed; one that returns was accepted by the provider, with the provider's id.
 */
export interface SendContext {
  /** `<event id>-<channel>` */
  idempotencyKey: string;
  orderId: string;
  /** the CloudEvents type that caused the delivery */
  eventType: string;
}

export interface SendResult {
  /** the provider's id of the accepted message */
  messageId: string;
}

export interface EmailMessage {
  to: string;
  subject: string;
  /** plain text */
  text: string;
}

export interface SmsMessage {
  /** E.164 */
  to: string;
  text: string;
}

export interface EmailSender {
  send(message: EmailMessage, context: SendContext): Promise<SendResult>;
}

export interface SmsSender {
  send(message: SmsMessage, context: SendContext): Promise<SendResult>;
}

export interface Senders {
  email: EmailSender;
  sms: SmsSender;
}

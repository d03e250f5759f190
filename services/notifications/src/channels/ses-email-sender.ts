/**
 * Email through Amazon SES (API v2, SendEmail with simple content): plain text, UTF-8, from NOTIFY_EMAIL_FROM (an
 * identity verified in SES), in NOTIFY_SES_CONFIGURATION_SET when one is given so that bounces and complaints are
 * published. SES has no idempotency key: the delivery key travels as the `delivery` message tag, which the
 * configuration set's event destinations carry, so a duplicate (see the crash window in db/deliveries-repo.ts)
 * can at least be traced to its delivery.
 */
import { SendEmailCommand, type SESv2Client } from '@aws-sdk/client-sesv2';
import type { EmailMessage, EmailSender, SendContext, SendResult } from './ports.ts';

export interface SesEmailSenderOptions {
  client: SESv2Client;
  /** `orders@shop.example` or `Shop <orders@shop.example>` */
  from: string;
  configurationSet?: string | undefined;
}

/** SES tag values allow letters, digits, `_` and `-` only. */
const tagValue = (value: string) => value.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 256);

export class SesEmailSender implements EmailSender {
  private readonly options: SesEmailSenderOptions;

  constructor(options: SesEmailSenderOptions) {
    this.options = options;
  }

  async send(message: EmailMessage, context: SendContext): Promise<SendResult> {
    const result = await this.options.client.send(
      new SendEmailCommand({
        FromEmailAddress: this.options.from,
        Destination: { ToAddresses: [message.to] },
        Content: {
          Simple: {
            Subject: { Data: message.subject, Charset: 'UTF-8' },
            Body: { Text: { Data: message.text, Charset: 'UTF-8' } },
          },
        },
        EmailTags: [
          { Name: 'delivery', Value: tagValue(context.idempotencyKey) },
          { Name: 'event_type', Value: tagValue(context.eventType) },
        ],
        ...(this.options.configurationSet ? { ConfigurationSetName: this.options.configurationSet } : {}),
      }),
    );
    if (!result.MessageId) throw new Error('SES accepted the email without returning a MessageId');
    return { messageId: result.MessageId };
  }
}

/**
 * SMS through Amazon SNS: a Publish straight to the phone number (no topic), marked Transactional so that SNS
 * routes it for reliability rather than for cost (an order update is not marketing). SNS SMS has no idempotency key (MessageDeduplicationId exists only for FIFO topics), so the delivery key
 * only reaches the logs; see the crash window in db/deliveries-repo.ts.
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { SendContext, SendResult, SmsMessage, SmsSender } from './ports.ts';

export class SnsSmsSender implements SmsSender {
  private readonly client: SNSClient;

  constructor(options: { client: SNSClient }) {
    this.client = options.client;
  }

  async send(message: SmsMessage, _context: SendContext): Promise<SendResult> {
    const result = await this.client.send(
      new PublishCommand({
        PhoneNumber: message.to,
        Message: message.text,
        MessageAttributes: { 'AWS.SNS.SMS.SMSType': { DataType: 'String', StringValue: 'Transactional' } },
      }),
    );
    if (!result.MessageId) throw new Error('SNS accepted the SMS without returning a MessageId');
    return { messageId: result.MessageId };
  }
}

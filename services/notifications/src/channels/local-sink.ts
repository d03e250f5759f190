/**
 * The local sink: email and SMS for embedded mode, compose and tests. Each delivery is one JSON file in one folder,
 * `<dir>/<delivery key>.json` (`<event id>-email.json`, `<event id>-sms.json`), holding what the customer would
 * have received: that file is what a developer opens to see "the email".
 *
 * The file is created exclusively (flag `wx`), so the delivery key is a true idempotency key here: a repeat of a
 * delivery finds its file and changes nothing. A file left empty or cut short by a crash between its creation and
 * its write is not mistaken for a delivery: it is written again.
 */
import { constants } from 'node:fs';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { EmailMessage, EmailSender, SendContext, SendResult, Senders, SmsMessage, SmsSender } from './ports.ts';

export interface SinkFile {
  deliveryKey: string;
  channel: 'email' | 'sms';
  orderId: string;
  eventType: string;
  from?: string;
  to: string;
  subject?: string;
  text: string;
  writtenAt: string;
}

export interface LocalSink extends Senders {
  readonly dir: string;
  /** the path of a delivery's file */
  fileOf(deliveryKey: string): string;
  /** creates the folder if needed and checks that it can be written (start-up and readiness) */
  check(): Promise<void>;
}

const isComplete = async (file: string) => {
  try {
    JSON.parse(await readFile(file, 'utf8'));
    return true;
  } catch {
    return false;
  }
};

/** `from` is shown in email files as the sender customers would see. */
export function createLocalSink(dir: string, options: { from?: string } = {}): LocalSink {
  const root = path.resolve(dir);
  const fileOf = (deliveryKey: string) => path.join(root, `${deliveryKey}.json`);

  async function write(content: SinkFile): Promise<SendResult> {
    if (!/^[A-Za-z0-9_-]+$/.test(content.deliveryKey)) throw new Error(`not a delivery key: ${content.deliveryKey}`);
    const file = fileOf(content.deliveryKey);
    const body = `${JSON.stringify(content, null, 2)}\n`;
    try {
      await writeFile(file, body, { flag: 'wx' }).catch(async (error: unknown) => {
        // the directory is made on the first write, and again if someone removed it meanwhile
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        await mkdir(root, { recursive: true });
        await writeFile(file, body, { flag: 'wx' });
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // Delivered before (a redelivery after a crash between the send and its commit): a no-op, unless a crash
      // left the file incomplete, in which case this delivery completes it.
      if (!(await isComplete(file))) await writeFile(file, body);
    }
    return { messageId: `local-sink:${path.basename(file)}` };
  }

  const email: EmailSender = {
    send: (message: EmailMessage, context: SendContext) =>
      write({
        deliveryKey: context.idempotencyKey,
        channel: 'email',
        orderId: context.orderId,
        eventType: context.eventType,
        ...(options.from ? { from: options.from } : {}),
        to: message.to,
        subject: message.subject,
        text: message.text,
        writtenAt: new Date().toISOString(),
      }),
  };
  const sms: SmsSender = {
    send: (message: SmsMessage, context: SendContext) =>
      write({
        deliveryKey: context.idempotencyKey,
        channel: 'sms',
        orderId: context.orderId,
        eventType: context.eventType,
        to: message.to,
        text: message.text,
        writtenAt: new Date().toISOString(),
      }),
  };
  return {
    dir: root,
    fileOf,
    email,
    sms,
    check: async () => {
      await mkdir(root, { recursive: true });
      await access(root, constants.W_OK);
    },
  };
}

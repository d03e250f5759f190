/**
 * The channel adapters. SES has no emulator, and fauxqs refuses an SNS Publish to a phone number ("TopicArn is
 * required"): the AWS adapters are tested for their mapping, with the SDK client's `send` replaced. The local sink
 * is tested on a real folder.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SendEmailCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLocalSink, type SinkFile } from '../src/channels/local-sink.ts';
import { SesEmailSender } from '../src/channels/ses-email-sender.ts';
import { SnsSmsSender } from '../src/channels/sns-sms-sender.ts';

const context = { idempotencyKey: '0b9c1e2d-3f4a-4b5c-8d6e-7f8091a2b3c4-email', orderId: '3f2a9c1e-7b4d-4e8a-9c2b-1d5e6f7a8b9c', eventType: 'com.securecart.order.shipped' };
const clientOptions = { region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };

describe('the SES email sender', () => {
  it('sends a plain-text UTF-8 email from the configured sender, tagged with its delivery key, in the configuration set', async () => {
    const client = new SESv2Client(clientOptions);
    const send = vi.spyOn(client, 'send').mockImplementation(async () => ({ MessageId: 'ses-0001' }));
    const sender = new SesEmailSender({ client, from: 'Kettle & Co <orders@kettle.example>', configurationSet: 'transactional' });
    const result = await sender.send({ to: 'ada@example.com', subject: 'Refund of €12.50', text: 'Hello,\n\nWe have refunded €12.50.' }, context);
    expect(result).toEqual({ messageId: 'ses-0001' });
    expect(send).toHaveBeenCalledTimes(1);
    const command = send.mock.calls[0]![0] as SendEmailCommand;
    expect(command).toBeInstanceOf(SendEmailCommand);
    expect(command.input).toEqual({
      FromEmailAddress: 'Kettle & Co <orders@kettle.example>',
      Destination: { ToAddresses: ['ada@example.com'] },
      Content: {
        Simple: {
          Subject: { Data: 'Refund of €12.50', Charset: 'UTF-8' },
          Body: { Text: { Data: 'Hello,\n\nWe have refunded €12.50.', Charset: 'UTF-8' } },
        },
      },
      EmailTags: [
        { Name: 'delivery', Value: context.idempotencyKey },
        { Name: 'event_type', Value: 'com_securecart_order_shipped' },
      ],
      ConfigurationSetName: 'transactional',
    });
    client.destroy();
  });

  it('leaves the configuration set out when there is none', async () => {
    const client = new SESv2Client(clientOptions);
    const send = vi.spyOn(client, 'send').mockImplementation(async () => ({ MessageId: 'ses-0002' }));
    await new SesEmailSender({ client, from: 'orders@kettle.example' }).send({ to: 'ada@example.com', subject: 's', text: 't' }, context);
    expect((send.mock.calls[0]![0] as SendEmailCommand).input).not.toHaveProperty('ConfigurationSetName');
    client.destroy();
  });

  it('fails when SES refuses, with SES’s reason', async () => {
    const client = new SESv2Client(clientOptions);
    vi.spyOn(client, 'send').mockImplementation(async () => {
      throw Object.assign(new Error('Email address is not verified.'), { name: 'MessageRejected' });
    });
    await expect(new SesEmailSender({ client, from: 'orders@kettle.example' }).send({ to: 'ada@example.com', subject: 's', text: 't' }, context)).rejects.toThrow(
      'Email address is not verified.',
    );
    client.destroy();
  });
});

describe('the SNS SMS sender', () => {
  it('publishes to the phone number itself as a transactional SMS', async () => {
    const client = new SNSClient(clientOptions);
    const send = vi.spyOn(client, 'send').mockImplementation(async () => ({ MessageId: 'sns-0001' }));
    const result = await new SnsSmsSender({ client }).send({ to: '+447700900123', text: 'SecureCart: your order #3F2A9C1E has shipped.' }, context);
    expect(result).toEqual({ messageId: 'sns-0001' });
    const command = send.mock.calls[0]![0] as PublishCommand;
    expect(command).toBeInstanceOf(PublishCommand);
    expect(command.input).toEqual({
      PhoneNumber: '+447700900123',
      Message: 'SecureCart: your order #3F2A9C1E has shipped.',
      MessageAttributes: { 'AWS.SNS.SMS.SMSType': { DataType: 'String', StringValue: 'Transactional' } },
    });
    expect(command.input).not.toHaveProperty('TopicArn');
    client.destroy();
  });

  it('fails when SNS answers without a message id', async () => {
    const client = new SNSClient(clientOptions);
    vi.spyOn(client, 'send').mockImplementation(async () => ({}));
    await expect(new SnsSmsSender({ client }).send({ to: '+447700900123', text: 'x' }, context)).rejects.toThrow(/without returning a MessageId/);
    client.destroy();
  });
});

describe('the local sink', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'notifications-sink-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes an email as one JSON file named by its delivery key, creating the folder', async () => {
    const sink = createLocalSink(path.join(dir, 'new', 'folder'), { from: 'SecureCart <orders@securecart.localhost>' });
    const result = await sink.email.send({ to: 'ada@example.com', subject: 'Your order has shipped', text: 'Hello,\n\nIt is on its way.\n' }, context);
    expect(result).toEqual({ messageId: `local-sink:${context.idempotencyKey}.json` });
    const file = JSON.parse(await readFile(sink.fileOf(context.idempotencyKey), 'utf8')) as SinkFile;
    expect(file).toEqual({
      deliveryKey: context.idempotencyKey,
      channel: 'email',
      orderId: context.orderId,
      eventType: context.eventType,
      from: 'SecureCart <orders@securecart.localhost>',
      to: 'ada@example.com',
      subject: 'Your order has shipped',
      text: 'Hello,\n\nIt is on its way.\n',
      writtenAt: expect.any(String),
    });
  });

  it('makes its folder again when someone removed it while it was running', async () => {
    const sink = createLocalSink(path.join(dir, 'removed'));
    await sink.email.send({ to: 'ada@example.com', subject: 'first', text: 'first' }, context);
    await rm(sink.dir, { recursive: true });
    const key = context.idempotencyKey.replace(/email$/, 'sms');
    await sink.sms.send({ to: '+447700900123', text: 'second' }, { ...context, idempotencyKey: key });
    expect(await readdir(sink.dir)).toEqual([`${key}.json`]);
  });

  it('writes an SMS the same way', async () => {
    const sink = createLocalSink(dir);
    const key = context.idempotencyKey.replace(/email$/, 'sms');
    await sink.sms.send({ to: '+447700900123', text: 'SecureCart: shipped.' }, { ...context, idempotencyKey: key });
    expect(JSON.parse(await readFile(sink.fileOf(key), 'utf8'))).toMatchObject({ channel: 'sms', to: '+447700900123', text: 'SecureCart: shipped.' });
  });

  it('treats a repeat of a delivery as already done: the first file stays as it was', async () => {
    const sink = createLocalSink(path.join(dir, 'repeat'));
    await sink.email.send({ to: 'ada@example.com', subject: 'first', text: 'first' }, context);
    const before = await readFile(sink.fileOf(context.idempotencyKey), 'utf8');
    const again = await sink.email.send({ to: 'ada@example.com', subject: 'second', text: 'second' }, context);
    expect(again).toEqual({ messageId: `local-sink:${context.idempotencyKey}.json` });
    expect(await readFile(sink.fileOf(context.idempotencyKey), 'utf8')).toBe(before);
    expect(await readdir(sink.dir)).toEqual([`${context.idempotencyKey}.json`]);
  });

  it('completes a file a crash left empty instead of taking it for a delivery', async () => {
    const sink = createLocalSink(path.join(dir, 'crash'));
    await sink.check();
    await writeFile(sink.fileOf(context.idempotencyKey), '');
    await sink.email.send({ to: 'ada@example.com', subject: 'subject', text: 'text' }, context);
    expect(JSON.parse(await readFile(sink.fileOf(context.idempotencyKey), 'utf8'))).toMatchObject({ subject: 'subject' });
  });

  it('fails when its folder cannot be written, and so does its check', async () => {
    const file = path.join(dir, 'a-file');
    await writeFile(file, 'not a folder');
    const sink = createLocalSink(path.join(file, 'sink'));
    await expect(sink.email.send({ to: 'ada@example.com', subject: 's', text: 't' }, context)).rejects.toThrow(/ENOTDIR|EEXIST/);
    await expect(sink.check()).rejects.toThrow();
  });

  it('refuses a key that is not a delivery key, so nothing is written outside its folder', async () => {
    const sink = createLocalSink(dir);
    await expect(sink.email.send({ to: 'a@example.com', subject: 's', text: 't' }, { ...context, idempotencyKey: '../escape' })).rejects.toThrow(/not a delivery key/);
  });
});

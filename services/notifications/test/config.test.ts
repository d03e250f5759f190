import { describe, expect, it } from 'vitest';
import { ConfigError } from '@securecart/config';
import { loadNotificationsWorkerConfig } from '../src/config.ts';

const local = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/securecart', AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' };
const inAws = {
  DATABASE_URL: 'postgres://app:secret@db.internal:5432/securecart',
  COPILOT_QUEUE_URI: 'https://sqs.eu-west-1.amazonaws.com/123456789012/securecart-notifications',
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadNotificationsWorkerConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('the configuration was accepted');
}

describe('the notifications worker configuration', () => {
  it('defaults to the local sink outside production, with a sender, a shop name and a probe port', () => {
    const config = loadNotificationsWorkerConfig(local);
    expect(config).toMatchObject({
      NOTIFY_CHANNELS: 'local-sink',
      LOCAL_SINK_DIR: '.data/notifications',
      NOTIFY_SHOP_NAME: 'SecureCart',
      NOTIFY_EMAIL_FROM: 'SecureCart <orders@securecart.localhost>',
      NOTIFY_CONCURRENCY: 8,
      PROBE_PORT: 3105,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('defaults to aws in production, and then requires the SES sender', () => {
    expect(problemsOf({ ...inAws, NODE_ENV: 'production' })).toEqual([
      'NOTIFY_EMAIL_FROM is required when NOTIFY_CHANNELS=aws (the default under NODE_ENV=production): an address or domain verified in SES, e.g. "Shop <orders@shop.example>"',
    ]);
    const config = loadNotificationsWorkerConfig({ ...inAws, NODE_ENV: 'production', NOTIFY_EMAIL_FROM: 'Kettle & Co <orders@kettle.example>' });
    expect(config.NOTIFY_CHANNELS).toBe('aws');
    expect(config.NOTIFY_EMAIL_FROM).toBe('Kettle & Co <orders@kettle.example>');
  });

  it('refuses the local sink in production: customers would never hear from the shop', () => {
    expect(problemsOf({ ...inAws, NODE_ENV: 'production', NOTIFY_CHANNELS: 'local-sink', NOTIFY_EMAIL_FROM: 'orders@kettle.example' })).toEqual([
      'NOTIFY_CHANNELS=local-sink is refused when NODE_ENV=production: customers would never receive a message (use aws)',
    ]);
  });

  it('requires the SES sender whenever the aws channels are chosen', () => {
    expect(problemsOf({ ...local, NOTIFY_CHANNELS: 'aws' })).toEqual([
      'NOTIFY_EMAIL_FROM is required when NOTIFY_CHANNELS=aws: an address or domain verified in SES, e.g. "Shop <orders@shop.example>"',
    ]);
  });

  it('names every bad variable with the reason', () => {
    const problems = problemsOf({
      ...local,
      NOTIFY_CHANNELS: 'carrier-pigeon',
      NOTIFY_CONCURRENCY: '0',
      PROBE_PORT: 'ninety',
      NOTIFY_SES_CONFIGURATION_SET: 'has spaces',
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'NOTIFY_CHANNELS must be one of aws, local-sink (got "carrier-pigeon")',
        expect.stringMatching(/^NOTIFY_CONCURRENCY .*\(got "0"\)$/),
        'PROBE_PORT must be integer (got "ninety")',
        expect.stringMatching(/^NOTIFY_SES_CONFIGURATION_SET .*\(got "has spaces"\)$/),
      ]),
    );
  });

  it('accepts a bare address or a name and an address as the sender, and refuses anything else', () => {
    expect(loadNotificationsWorkerConfig({ ...local, NOTIFY_EMAIL_FROM: 'orders@kettle.example' }).NOTIFY_EMAIL_FROM).toBe('orders@kettle.example');
    expect(problemsOf({ ...local, NOTIFY_EMAIL_FROM: 'orders at kettle' })).toEqual([
      'NOTIFY_EMAIL_FROM must be an address (orders@shop.example) or a name and an address (Shop <orders@shop.example>) (got "orders at kettle")',
    ]);
    expect(problemsOf({ ...local, NOTIFY_EMAIL_FROM: 'Shop <not-an-address>' })).toHaveLength(1);
  });

  it('refuses a shop name that would break the sender line', () => {
    expect(problemsOf({ ...local, NOTIFY_SHOP_NAME: 'Evil <x@y.z>' })[0]).toMatch(/^NOTIFY_SHOP_NAME /);
  });

  it('needs Copilot’s queue in AWS, where nothing is bootstrapped', () => {
    expect(problemsOf({ DATABASE_URL: inAws.DATABASE_URL })).toEqual([
      'COPILOT_QUEUE_URI (or COPILOT_TOPIC_QUEUE_URIS) is required unless AWS_ENDPOINT_URL is set',
    ]);
    expect(loadNotificationsWorkerConfig({ DATABASE_URL: inAws.DATABASE_URL, COPILOT_TOPIC_QUEUE_URIS: '{"notifications":"https://sqs/q"}' }).COPILOT_TOPIC_QUEUE_URIS).toBeDefined();
  });

  it('requires a Postgres URL, without echoing its password', () => {
    expect(problemsOf({ ...local, DATABASE_URL: 'mysql://app:secret@db/x' })).toEqual([
      'DATABASE_URL must be a URL starting with postgres:// or postgresql:// (got "mysql://app:***@db/x")',
    ]);
  });
});

/**
 * The notifications worker as a real process: it starts from its environment, delivers from the queue, answers
 * its probe, and stops cleanly on SIGTERM; it refuses a bad configuration, or a sink it cannot write, by name.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, startProcess, waitFor } from '@securecart/testing';
import { deliveriesOf, orderEvent, scratchDir, sinkFilesOf, startTestMessaging, type TestMessaging } from './harness.ts';

const infra = inject('infra');
const workerScript = fileURLToPath(new URL('../src/worker.ts', import.meta.url));
const cwd = fileURLToPath(new URL('../../..', import.meta.url));
let messaging: TestMessaging;
let sql: pg.Pool;
let sink: Awaited<ReturnType<typeof scratchDir>>;

beforeAll(async () => {
  messaging = await startTestMessaging({ endpoint: infra.sqsEndpoint });
  sql = new pg.Pool({ connectionString: infra.databaseUrl });
  sink = await scratchDir('process');
});
afterAll(async () => {
  await sql?.end();
  await messaging?.close();
  await sink?.remove();
});

const workerEnv = (probePort: number) => ({
  PROBE_PORT: String(probePort),
  LOG_LEVEL: 'info',
  DATABASE_URL: infra.databaseUrl,
  AWS_ENDPOINT_URL: messaging.endpoint,
  MESSAGING_PREFIX: messaging.prefix,
  LOCAL_SINK_DIR: sink.dir,
  NOTIFY_SHOP_NAME: 'Kettle & Co',
});

describe('the notifications worker process', () => {
  it('delivers from the queue into the local sink, answers its probe, and on SIGTERM stops cleanly with exit code 0', async () => {
    const probePort = await freePort();
    const proc = startProcess(workerScript, workerEnv(probePort), cwd);
    try {
      await proc.waitForOutput(/notifications worker started/);
      const event = orderEvent('order.shipped', { contact: { email: 'ada@example.com', phone: '+447700900123' } });
      await messaging.publishOrderEvents([event]);
      const files = await waitFor(async () => {
        const found = await sinkFilesOf(sink.dir, event.id);
        return Object.keys(found).length === 2 && found;
      }, { timeoutMs: 10_000, what: 'the email and the SMS in the sink' });
      expect(files[`${event.id}-email.json`]).toMatchObject({ from: 'Kettle & Co <orders@securecart.localhost>', to: 'ada@example.com' });
      expect(files[`${event.id}-email.json`]!.subject).toMatch(/^Your Kettle & Co order #[0-9A-F]{8} has shipped$/);
      await waitFor(async () => (await deliveriesOf(sql, event.id)).filter((r) => r.status === 'SENT').length === 2, { timeoutMs: 5_000, what: 'the deliveries to be recorded' });

      expect((await fetch(`http://127.0.0.1:${probePort}/health/ready`)).status).toBe(200);
      const metrics = await (await fetch(`http://127.0.0.1:${probePort}/metrics`)).text();
      expect(metrics).toMatch(/notification_deliveries_total\{[^}]*channel="email"[^}]*outcome="sent"[^}]*\} 1/);
      expect(metrics).toMatch(/notification_deliveries_total\{[^}]*channel="sms"[^}]*outcome="sent"[^}]*\} 1/);
      expect(metrics).toMatch(/queue_messages_total\{[^}]*queue="notifications"[^}]*type="com.securecart.order.shipped"[^}]*outcome="handled"[^}]*\} 1/);
      // logs name the delivery, never the full address or number
      expect(proc.output()).toContain(`"deliveryKey":"${event.id}-email"`);
      expect(proc.output()).toContain('"recipient":"a***@example.com"');
      expect(proc.output()).not.toContain('+447700900123');

      proc.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      expect(proc.output()).toMatch(/shutting down/);
      expect(proc.output()).toMatch(/shut down cleanly/);
    } finally {
      proc.kill('SIGKILL');
    }
  });

  it('refuses to start on a bad configuration, naming each variable and the reason', async () => {
    const { AWS_ENDPOINT_URL: _omit, ...inAws } = workerEnv(1);
    const proc = startProcess(workerScript, { ...inAws, NODE_ENV: 'production', NOTIFY_CHANNELS: 'local-sink', NOTIFY_CONCURRENCY: 'lots' }, cwd);
    expect(await proc.exited).toBe(1);
    const output = proc.output();
    expect(output).toContain('notifications: Invalid configuration');
    expect(output).toContain('NOTIFY_CONCURRENCY must be integer (got "lots")');
    const again = startProcess(workerScript, { ...inAws, NODE_ENV: 'production', NOTIFY_CHANNELS: 'local-sink' }, cwd);
    expect(await again.exited).toBe(1);
    expect(again.output()).toContain('NOTIFY_CHANNELS=local-sink is refused when NODE_ENV=production');
    expect(again.output()).toContain('COPILOT_QUEUE_URI (or COPILOT_TOPIC_QUEUE_URIS) is required unless AWS_ENDPOINT_URL is set');
    expect(again.output()).not.toMatch(/at .*\.ts:\d+/);
  });

  it('refuses to start when its sink folder cannot be written', async () => {
    const notAFolder = path.join(sink.dir, 'not-a-folder');
    await writeFile(notAFolder, '');
    const proc = startProcess(workerScript, { ...workerEnv(await freePort()), LOCAL_SINK_DIR: path.join(notAFolder, 'sink') }, cwd);
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toMatch(/could not start: LOCAL_SINK_DIR .*not-a-folder\/sink cannot be written/);
  });
});

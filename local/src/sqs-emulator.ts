/**
 * The SNS/SQS emulator (fauxqs) as a process of its own, for compose mode and tests that need one out of process.
 * fauxqs's own server entry does not handle SIGTERM, so `docker compose stop` ended it with 143; here a signal
 * stops it: it stops listening, lets requests in flight finish (a long poll at most for the grace below: its
 * messages stay in the queue, invisible until their visibility timeout, like any receive that is never deleted),
 * closes its store and exits 0. With FAUXQS_DATA_DIR its queues, topics and messages survive a restart.
 */
import { startFauxqs } from 'fauxqs';
import { pino } from 'pino';
import { loadConfigOrExit } from '@securecart/config';
import { loadSqsEmulatorConfig } from './config.ts';

const GRACE_MS = 3_000;

async function main() {
  const config = loadConfigOrExit('sqs-emulator', () => loadSqsEmulatorConfig());
  const log = pino({ base: { service: 'sqs-emulator' } });
  const server = await startFauxqs({
    port: config.FAUXQS_PORT,
    defaultRegion: config.FAUXQS_DEFAULT_REGION,
    logger: false,
    ...(config.FAUXQS_DATA_DIR ? { dataDir: config.FAUXQS_DATA_DIR } : {}),
  });
  log.info({ address: server.address, persistent: Boolean(config.FAUXQS_DATA_DIR) }, 'sqs-emulator started');

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    const grace = setTimeout(() => {
      log.warn({ signal }, 'long polls still open after the grace period: exiting');
      process.exit(0);
    }, GRACE_MS);
    grace.unref();
    server.stop().then(
      () => {
        log.info({ signal }, 'sqs-emulator stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'sqs-emulator: stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

if (import.meta.main) await main();

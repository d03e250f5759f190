/**
 * The SNS/SQS emulator (fauxqs) as a process of its own, for compose mode and tests that need one out of process.
 * fauxqs's own server entry does not handle SIGTERM, so `docker compose stop` ended it with 143; here a signal
 * stops it: it stops listening, lets requests in flight finish (a long poll at most for the grace below: its
 * messages stay in the queue, invisible until their visibility timeout, like any receive that is never deleted),
 * closes its store and exits 0. With FAUXQS_DATA_DIR its queues, topics and messages survive a restart.
 */
import { startFauxqs } from 'fauxqs';
import { loadConfigOrExit } from '@securecart/config';
import { loadSqsEmulatorConfig } from './config.ts';

const GRACE_MS = 3_000;

async function main() {
  const config = loadConfigOrExit('sqs-emulator', () => loadSqsEmulatorConfig());
  const server = await startFauxqs({
    port: config.FAUXQS_PORT,
    defaultRegion: config.FAUXQS_DEFAULT_REGION,
    logger: false,
    ...(config.FAUXQS_DATA_DIR ? { dataDir: config.FAUXQS_DATA_DIR } : {}),
  });
  process.stdout.write(`${JSON.stringify({ level: 'info', msg: 'sqs-emulator started', address: server.address, persistent: Boolean(config.FAUXQS_DATA_DIR) })}\n`);

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    const grace = setTimeout(() => {
      process.stdout.write(`${JSON.stringify({ level: 'warn', msg: 'long polls still open after the grace period: exiting', signal })}\n`);
      process.exit(0);
    }, GRACE_MS);
    grace.unref();
    server.stop().then(
      () => {
        process.stdout.write(`${JSON.stringify({ level: 'info', msg: 'sqs-emulator stopped', signal })}\n`);
        process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`sqs-emulator: stop failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

if (import.meta.main) await main();

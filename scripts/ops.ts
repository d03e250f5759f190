/**
 * `pnpm ops`: the operator's commands, run from a laptop or a task (docs/operations.md):
 * - `dlq list|show|redrive` against any SQS endpoint, over libs/messaging's dead-letters module;
 * - `outbox list|show|retry` against the database, over libs/messaging's outbox-admin module.
 * Configured like the services, from the environment; tables for people, `--json` for scripts. Exit codes: 0 done,
 * 1 failed (an endpoint or database error, a redrive left incomplete), 2 bad usage or configuration.
 */
import { parseArgs } from 'node:util';
import { drizzle } from 'drizzle-orm/node-postgres';
import { ConfigError, Env, loadConfig, Type } from '../libs/config/src/index.ts';
import { createPool, databaseTlsProblems } from '../libs/db/src/index.ts';
import { createAwsClients, destroyAwsClients } from '../libs/messaging/src/clients.ts';
import { hasOutbox, outboxStatus, peekOutbox, retryDeadEvents, type OutboxEntry, type OutboxStatus } from '../libs/messaging/src/outbox-admin.ts';
import {
  DeadLetterQueueNotFoundError, isQueueName, listDeadLetterQueues, locateDeadLetterQueue, peekDeadLetters, QUEUE_NAMES, redriveDeadLetters,
  UnknownQueueError, type DeadLetter, type DeadLetterQueueListing, type RedriveResult,
} from '../libs/messaging/src/dead-letters.ts';

/** the schemas whose service relays an outbox (catalog, orders-worker, fulfillment) */
const OUTBOX_SCHEMAS = ['catalog', 'orders', 'fulfillment'] as const;

const SUMMARY = `Usage: pnpm ops dlq <command> [options]
       pnpm ops outbox <command> [options]

Commands:
  dlq list                      every queue: dead letters waiting, the queue's own depth, the oldest dead letter's age
  dlq show <queue>              the dead letters of <queue>, left where they are (--limit n, default 10)
  dlq redrive <queue>           move <queue>'s dead letters back to it (all, or --limit n); fix the cause first
  outbox list                   every outbox: events waiting, backing off after a refusal, dead, published and kept
  outbox show <schema>          the dead and refused events of <schema>'s outbox, with SNS's answer (--limit n, default 10)
  outbox retry <schema>         put <schema>'s dead events back in line (all, or --id <uuid>, repeatable); fix the cause first

Queues: ${QUEUE_NAMES.join(', ')}
Outboxes (schemas): ${OUTBOX_SCHEMAS.join(', ')}
`;

const USAGE = `${SUMMARY}
Options:
  --limit <n>         show or move at most n dead letters
  --dry-run           redrive: count what would move, move nothing
  --manual            redrive: receive, send, delete, even where SQS's message move task is available
  --queue-url <url>   show, redrive: the queue's URL, instead of finding it by name
  --dlq-url <url>     show, redrive: its dead-letter queue's URL, instead of the queue's redrive policy
  --id <uuid>         outbox retry: only this event (repeat for several)
  --json              machine-readable output
  -h, --help          this text

Environment:
  AWS_REGION          default us-east-1 (or AWS_DEFAULT_REGION)
  AWS_ENDPOINT_URL    an SQS emulator (fauxqs); unset in AWS, where the usual credential chain applies
  MESSAGING_PREFIX    with AWS_ENDPOINT_URL: queues are named <prefix><queue>, as the services bootstrap them
  QUEUE_NAME_PREFIX   without it (AWS): queues are named <prefix><queue>; else pass --queue-url
  DATABASE_URL        outbox: the services' Postgres primary (postgres://...)
  DATABASE_CA         outbox: rds, or a PEM file, for a sslmode=verify-full DATABASE_URL
`;

const OpsEnv = Type.Object({
  AWS_REGION: Type.Optional(Type.String({ minLength: 1 })),
  AWS_DEFAULT_REGION: Type.Optional(Type.String({ minLength: 1 })),
  AWS_ENDPOINT_URL: Type.Optional(Env.url(['http', 'https'], 'an SQS emulator')),
  MESSAGING_PREFIX: Type.String({ default: '', pattern: '^[A-Za-z0-9_-]*$' }),
  QUEUE_NAME_PREFIX: Type.String({ default: '', pattern: '^[A-Za-z0-9_-]*$' }),
});

const OutboxOpsEnv = Type.Object({
  DATABASE_URL: Env.url(['postgres', 'postgresql'], 'the services\' Postgres primary'),
  DATABASE_CA: Env.databaseCa(),
});

class UsageError extends Error {}

interface OutboxCommand {
  group: 'outbox';
  action: 'list' | 'show' | 'retry';
  schema?: string;
  limit?: number;
  ids: string[];
  json: boolean;
}

interface Command {
  group: 'dlq';
  action: 'list' | 'show' | 'redrive';
  queue?: string;
  limit?: number;
  dryRun: boolean;
  manual: boolean;
  json: boolean;
  queueUrl?: string;
  dlqUrl?: string;
}

function parseLimit(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const limit = Number(raw);
  if (!/^\d+$/.test(raw) || limit < 1) throw new UsageError(`--limit must be a positive integer (got "${raw}")`);
  return limit;
}

function parseCommand(argv: string[]): Command | OutboxCommand | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      limit: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      manual: { type: 'boolean', default: false },
      'queue-url': { type: 'string' },
      'dlq-url': { type: 'string' },
      id: { type: 'string', multiple: true },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  const [group, action, queue, ...extra] = positionals;
  if (group === 'outbox') return parseOutboxCommand(values, action, queue, extra);
  if (group !== 'dlq') throw new UsageError(group ? `unknown command "${group}"` : 'no command given');
  if (values.id) throw new UsageError('--id applies to outbox retry only');
  if (action !== 'list' && action !== 'show' && action !== 'redrive') throw new UsageError(action ? `unknown dlq command "${action}"` : 'dlq needs a command: list, show or redrive');
  if (extra.length) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  const only = (flag: string, set: unknown, allowed: Command['action'][]) => {
    if (set && !allowed.includes(action)) throw new UsageError(`${flag} does not apply to dlq ${action}`);
  };
  only('--limit', values.limit !== undefined, ['show', 'redrive']);
  only('--dry-run', values['dry-run'], ['redrive']);
  only('--manual', values.manual, ['redrive']);
  only('--queue-url', values['queue-url'], ['show', 'redrive']);
  only('--dlq-url', values['dlq-url'], ['show', 'redrive']);
  if (action === 'list' && queue) throw new UsageError('dlq list takes no queue: it lists them all');
  if (action !== 'list') {
    if (!queue) throw new UsageError(`dlq ${action} needs a queue: ${QUEUE_NAMES.join(', ')}`);
    if (!isQueueName(queue)) throw new UsageError(new UnknownQueueError(queue).message);
  }
  const limit = parseLimit(values.limit);
  for (const flag of ['queue-url', 'dlq-url'] as const) {
    const url = values[flag];
    if (url !== undefined && !/^https?:\/\/\S+$/.test(url)) throw new UsageError(`--${flag} must be an http(s) URL (got "${url}")`);
  }
  return {
    group: 'dlq', action, json: values.json, dryRun: values['dry-run'], manual: values.manual,
    ...(queue ? { queue } : {}), ...(limit ? { limit } : {}),
    ...(values['queue-url'] ? { queueUrl: values['queue-url'] } : {}), ...(values['dlq-url'] ? { dlqUrl: values['dlq-url'] } : {}),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function parseOutboxCommand(
  values: { limit?: string; id?: string[]; json: boolean; 'dry-run': boolean; manual: boolean; 'queue-url'?: string; 'dlq-url'?: string },
  action: string | undefined, schema: string | undefined, extra: string[],
): OutboxCommand {
  if (action !== 'list' && action !== 'show' && action !== 'retry') throw new UsageError(action ? `unknown outbox command "${action}"` : 'outbox needs a command: list, show or retry');
  if (extra.length) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  for (const [flag, set] of [['--dry-run', values['dry-run']], ['--manual', values.manual], ['--queue-url', values['queue-url']], ['--dlq-url', values['dlq-url']]] as const) {
    if (set) throw new UsageError(`${flag} does not apply to outbox ${action}`);
  }
  if (values.limit !== undefined && action !== 'show') throw new UsageError(`--limit does not apply to outbox ${action}`);
  if (values.id && action !== 'retry') throw new UsageError(`--id does not apply to outbox ${action}`);
  if (action === 'list' && schema) throw new UsageError('outbox list takes no schema: it lists them all');
  if (action !== 'list') {
    if (!schema) throw new UsageError(`outbox ${action} needs a schema: ${OUTBOX_SCHEMAS.join(', ')}`);
    if (!(OUTBOX_SCHEMAS as readonly string[]).includes(schema)) throw new UsageError(`unknown outbox "${schema}"; the outboxes are: ${OUTBOX_SCHEMAS.join(', ')}`);
  }
  const bad = (values.id ?? []).filter((id) => !UUID.test(id));
  if (bad.length) throw new UsageError(`--id must be an event id (a UUID; got "${bad[0]}")`);
  const limit = parseLimit(values.limit);
  return { group: 'outbox', action, json: values.json, ids: values.id ?? [], ...(schema ? { schema } : {}), ...(limit ? { limit } : {}) };
}

// ---- output ----------------------------------------------------------------------------------------------------

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  // the first column is text (left), the others numbers or short values (right)
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function formatAge(seconds: number | null): string {
  if (seconds === null) return '-';
  const units: [string, number][] = [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]];
  const parts: string[] = [];
  let rest = seconds;
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0 || (unit === 's' && !parts.length)) parts.push(`${n}${unit}`);
    rest -= n * size;
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

function renderList(listing: DeadLetterQueueListing[]): string {
  const rows = listing.map(({ queue, status }) =>
    status
      ? [queue, String(status.deadLetters.visible), String(status.deadLetters.inFlight), formatAge(status.oldestDeadLetterAgeSeconds),
        String(status.source.visible), String(status.source.inFlight), String(status.source.delayed)]
      : [queue, 'error', '', '', '', '', ''],
  );
  const out = [table(['queue', 'dead letters', 'dlq in flight', 'oldest dead letter', 'queue waiting', 'queue in flight', 'queue delayed'], rows)];
  const failed = listing.filter((l) => l.error);
  for (const { queue, error } of failed) out.push(`${queue}: ${error}`);
  const dead = listing.filter((l) => (l.status?.deadLetters.visible ?? 0) + (l.status?.deadLetters.inFlight ?? 0) > 0);
  if (dead.length) out.push(`\n${dead.map((l) => l.queue).join(', ')}: see why with \`pnpm ops dlq show <queue>\`; redrive only once the cause is fixed.`);
  else if (!failed.length) out.push('\nNo dead letters.');
  return out.join('\n');
}

function renderDeadLetters(queue: string, deadLetterQueueUrl: string, letters: DeadLetter[], limit: number): string {
  if (!letters.length) return `No dead letters behind ${queue} (${deadLetterQueueUrl}).`;
  const blocks = letters.map((d, i) => {
    const lines = [
      `${i + 1}. message ${d.messageId}  receives ${d.receiveCount}  sent ${d.sentAt ?? '-'}  first received ${d.firstReceivedAt ?? '-'}`,
      d.event
        ? `   ${d.event.type}  id ${d.event.id}  subject ${d.event.subject ?? '-'}  time ${d.event.time ?? '-'}`
        : `   not a CloudEvents envelope: ${d.raw}`,
    ];
    return lines.join('\n');
  });
  const more = letters.length === limit ? ` (at most ${limit} shown: there may be more, see --limit)` : '';
  return `${letters.length} dead letter${letters.length === 1 ? '' : 's'} behind ${queue}${more}, left in place:\n\n${blocks.join('\n\n')}`;
}

function renderRedrive(result: RedriveResult): string {
  const lines: string[] = [];
  if (result.dryRun) lines.push(`Dry run: ${result.moved} dead letter${result.moved === 1 ? '' : 's'} would move back to ${result.queue}; nothing moved.`);
  else if (result.moveTask?.status === 'RUNNING') {
    lines.push(`SQS message move task ${result.moveTask.handle} is still running: ${result.moved} moved back to ${result.queue} so far.`);
    lines.push('It carries on by itself: watch the dead letters go down with `pnpm ops dlq list`.');
  } else {
    lines.push(`Moved ${result.moved} dead letter${result.moved === 1 ? '' : 's'} back to ${result.queue} (${result.strategy === 'move-task' ? 'SQS message move task' : 'receive, send, delete'}).`);
    if (result.moveTask) lines.push(`message move task ${result.moveTask.handle}: ${result.moveTask.status}`);
  }
  if (result.moveTaskUnavailable) lines.push(`(SQS's message move task could not be used here: ${result.moveTaskUnavailable})`);
  for (const error of result.errors) lines.push(`error: ${error}`);
  return lines.join('\n');
}

function renderOutboxList(statuses: (OutboxStatus | { schema: string; missing: true })[]): string {
  const rows = statuses.map((s) => ('missing' in s
    ? [s.schema, 'no outbox table (not migrated)', '', '', '', '']
    : [s.schema, String(s.waiting), String(s.backingOff), formatAge(s.oldestWaitingSeconds), String(s.dead), String(s.published)]));
  const out = [table(['outbox', 'waiting', 'backing off', 'oldest waiting', 'dead', 'published (kept)'], rows)];
  const dead = statuses.filter((s) => !('missing' in s) && s.dead > 0).map((s) => s.schema);
  const refused = statuses.filter((s) => !('missing' in s) && s.backingOff > 0).map((s) => s.schema);
  if (dead.length) out.push(`\n${dead.join(', ')}: dead events are never published until retried: see why with \`pnpm ops outbox show <schema>\`, fix the cause, then \`pnpm ops outbox retry <schema>\`.`);
  else if (refused.length) out.push(`\n${refused.join(', ')}: SNS refused some events; they are tried again with backoff. See why with \`pnpm ops outbox show <schema>\`.`);
  else if (statuses.some((s) => !('missing' in s))) out.push('\nNo dead or refused events.');
  return out.join('\n');
}

function renderOutboxEntries(schema: string, entries: OutboxEntry[], limit: number): string {
  if (!entries.length) return `No dead or refused events in the ${schema} outbox.`;
  const blocks = entries.map((e, i) => [
    `${i + 1}. ${e.deadAt ? `DEAD since ${e.deadAt}` : `backing off: next attempt ${e.nextAttemptAt}`}  attempts ${e.attempts}`,
    `   ${e.type}  id ${e.id}  subject ${e.subject}  created ${e.createdAt}`,
    `   last error: ${e.lastError ?? '-'}`,
  ].join('\n'));
  const more = entries.length === limit ? ` (at most ${limit} shown: there may be more, see --limit)` : '';
  return `${entries.length} event${entries.length === 1 ? '' : 's'} in the ${schema} outbox need a look${more}:\n\n${blocks.join('\n\n')}`;
}

// ---- main ------------------------------------------------------------------------------------------------------

const prefixHint = (env: Record<string, string | undefined>) =>
  env.AWS_ENDPOINT_URL ? 'AWS_ENDPOINT_URL and MESSAGING_PREFIX' : 'AWS_REGION and QUEUE_NAME_PREFIX, or pass --queue-url and --dlq-url';

async function runOutbox(command: OutboxCommand, env: Record<string, string | undefined>): Promise<number> {
  const config = loadConfig(OutboxOpsEnv, env);
  const tls = databaseTlsProblems({ DATABASE_URL: config.DATABASE_URL, DATABASE_CA: config.DATABASE_CA });
  if (tls.length) throw new ConfigError(tls);
  const pool = createPool(config.DATABASE_URL, { name: 'ops', max: 1, ca: config.DATABASE_CA });
  const db = drizzle(pool);
  const print = (value: unknown, text: () => string) => console.log(command.json ? JSON.stringify(value, null, 2) : text());
  try {
    if (command.action === 'list') {
      const statuses: (OutboxStatus | { schema: string; missing: true })[] = [];
      for (const schema of OUTBOX_SCHEMAS) statuses.push((await hasOutbox(db, schema)) ? await outboxStatus(db, schema) : { schema, missing: true as const });
      print({ outboxes: statuses }, () => renderOutboxList(statuses));
      return 0;
    }
    const schema = command.schema!;
    if (!(await hasOutbox(db, schema))) {
      console.error(`ops: the ${schema} schema has no outbox table in this database: is DATABASE_URL the services' database, and has ${schema} migrated?`);
      return 1;
    }
    if (command.action === 'show') {
      const limit = command.limit ?? 10;
      const entries = await peekOutbox(db, schema, { limit });
      print({ schema, events: entries }, () => renderOutboxEntries(schema, entries, limit));
      return 0;
    }
    const retried = await retryDeadEvents(db, schema, { ids: command.ids });
    const missed = command.ids.filter((id) => !retried.includes(id));
    print({ schema, retried, notDead: missed }, () => [
      `Put ${retried.length} dead event${retried.length === 1 ? '' : 's'} of the ${schema} outbox back in line; the relay publishes ${retried.length === 1 ? 'it' : 'them'} now.`,
      ...(missed.length ? [`Not dead (published, waiting, or no such id): ${missed.join(', ')}`] : []),
      'Watch them go with `pnpm ops outbox list`: a refusal again means the cause is still there.',
    ].join('\n'));
    return missed.length ? 1 : 0;
  } finally {
    await pool.end();
  }
}

async function run(command: Command | OutboxCommand, env: Record<string, string | undefined>): Promise<number> {
  if (command.group === 'outbox') return runOutbox(command, env);
  const config = loadConfig(OpsEnv, env);
  const clients = createAwsClients({ region: config.AWS_REGION ?? config.AWS_DEFAULT_REGION ?? 'us-east-1', endpoint: config.AWS_ENDPOINT_URL });
  const namePrefix = config.AWS_ENDPOINT_URL ? config.MESSAGING_PREFIX : config.QUEUE_NAME_PREFIX;
  const print = (value: unknown, text: () => string) => console.log(command.json ? JSON.stringify(value, null, 2) : text());
  try {
    if (command.action === 'list') {
      const listing = await listDeadLetterQueues(clients.sqs, { namePrefix });
      print({ queues: listing }, () => renderList(listing));
      const failed = listing.filter((l) => l.error).length;
      if (failed) console.error(`ops: ${failed} of ${listing.length} queues could not be read (check ${prefixHint(env)})`);
      return failed ? 1 : 0;
    }
    const pair = await locateDeadLetterQueue(clients.sqs, command.queue!, { namePrefix, queueUrl: command.queueUrl, deadLetterQueueUrl: command.dlqUrl });
    if (command.action === 'show') {
      const limit = command.limit ?? 10;
      const letters = await peekDeadLetters(clients.sqs, pair, { limit });
      print({ ...pair, deadLetters: letters }, () => renderDeadLetters(pair.queue, pair.deadLetterQueueUrl, letters, limit));
      return 0;
    }
    const result = await redriveDeadLetters(clients.sqs, pair, { limit: command.limit, dryRun: command.dryRun, strategy: command.manual ? 'manual' : 'auto' });
    print(result, () => renderRedrive(result));
    return result.errors.length ? 1 : 0;
  } finally {
    destroyAwsClients(clients);
  }
}

async function main(argv: string[]): Promise<number> {
  let command: Command | OutboxCommand | 'help';
  try {
    command = parseCommand(argv);
  } catch (error) {
    // parseArgs throws TypeErrors with a code for unknown options and missing values
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`ops: ${(error as Error).message}\n\n${SUMMARY}\nAll options: pnpm ops --help`);
      return 2;
    }
    throw error;
  }
  if (command === 'help') {
    console.log(USAGE);
    return 0;
  }
  try {
    return await run(command, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`ops: ${error.message}`);
      return 2;
    }
    if (error instanceof DeadLetterQueueNotFoundError) {
      console.error(`ops: ${error.message} (check ${prefixHint(process.env)})`);
      return 1;
    }
    const where = command.group === 'outbox' ? 'the database at DATABASE_URL' : `SQS at ${process.env.AWS_ENDPOINT_URL ?? 'AWS'}`;
    // drizzle wraps a driver's error in "Failed query: <sql>": the cause says what happened
    const reason = (error as Error).cause instanceof Error ? ((error as Error).cause as Error) : (error as Error);
    console.error(`ops: ${reason.name}: ${reason.message || (reason as { code?: string }).code} (${where})`);
    return 1;
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));

/**
 * Configuration is read once, from the environment, validated against a TypeBox schema and frozen.
 * A bad value stops start-up with one line per problem, each naming the variable and what is wrong:
 * an operator reading the task's log should not have to guess.
 */
import { Type, type Static, type TObject, type TProperties } from 'typebox';
import { Value } from 'typebox/value';

export { Type };

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Common building blocks so that every service spells the same variable the same way. */
export const Env = {
  port: (defaultPort: number) =>
    Type.Integer({ minimum: 0, maximum: 65535, default: defaultPort, description: 'TCP port to listen on' }),
  url: (protocols: string[], description: string) =>
    Type.String({ pattern: `^(${protocols.join('|')})://\\S+$`, description }),
  logLevel: () =>
    Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), {
      default: 'info',
      description: 'pino log level',
    }),
  nodeEnv: () =>
    Type.Union(['development', 'test', 'production'].map((l) => Type.Literal(l)), { default: 'development' }),
  positiveInt: (defaultValue: number, description: string) =>
    Type.Integer({ minimum: 1, default: defaultValue, description }),
  boolean: (defaultValue: boolean, description: string) => Type.Boolean({ default: defaultValue, description }),
  /** DATABASE_CA (libs/db tls.ts checks its value against the database URLs: databaseTlsProblems) */
  databaseCa: () =>
    Type.Optional(
      Type.String({
        minLength: 1,
        description: 'the certificate authorities a sslmode=verify-full database URL is checked against: rds (the Amazon RDS CAs) or the absolute path of a PEM file',
      }),
    ),
};

/**
 * Where OpenTelemetry spans go (OTLP over HTTP): unset, tracing is off and nothing of it is loaded. Every service
 * spreads these into its schema and hands them to startTracing() (@securecart/telemetry).
 */
export const TracingEnv = {
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(
    Env.url(['http', 'https'], 'an OTLP/HTTP collector (the ADOT sidecar: http://localhost:4318); spans go to <it>/v1/traces; unset: no tracing'),
  ),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Type.Optional(
    Env.url(['http', 'https'], 'the full URL spans are posted to, instead of OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces'),
  ),
};

/** The outbox relay of a process that has one (catalog, orders-worker, fulfillment): spread into its schema, and
 * handed to OutboxRelay (@securecart/messaging) through outboxSettings(). */
export const OutboxEnv = {
  OUTBOX_POLL_MS: Env.positiveInt(500, 'how often the outbox relay looks for rows when no NOTIFY wakes it'),
  OUTBOX_MAX_ATTEMPTS: Env.positiveInt(10, 'refusals by SNS (no such topic, an invalid event) before an outbox row is dead and waits for `pnpm ops outbox retry`; an outage counts none'),
  OUTBOX_RETENTION_DAYS: Env.positiveInt(7, 'published outbox rows and processed event ids are deleted after this many days; 15 covers the queues\' retention (14 days), so that any redriven message is still recognised'),
};

/** OutboxRelay's options from a config holding OutboxEnv. */
export function outboxSettings(config: { OUTBOX_POLL_MS: number; OUTBOX_MAX_ATTEMPTS: number; OUTBOX_RETENTION_DAYS: number }) {
  return { intervalMs: config.OUTBOX_POLL_MS, maxAttempts: config.OUTBOX_MAX_ATTEMPTS, retentionMs: config.OUTBOX_RETENTION_DAYS * 24 * 3600 * 1000 };
}

/** What startTracing() takes, from a config holding TracingEnv. */
export function tracingEndpoints(config: { OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string | undefined }) {
  return { endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, tracesEndpoint: config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT };
}

function describeValue(raw: unknown): string {
  if (raw === undefined) return 'it is not set';
  const text = String(raw);
  // Never echo what may be a secret (a URL with a password, a token): show its shape only.
  const redacted = text.replace(/\/\/([^:@/]+):([^@/]+)@/, '//$1:***@');
  return `got "${redacted.length > 80 ? `${redacted.slice(0, 77)}...` : redacted}"`;
}

function explain(message: string, schema: unknown): string {
  const s = schema as { pattern?: string; description?: string; anyOf?: { const?: unknown }[] };
  if (s.anyOf?.every((o) => o.const !== undefined)) {
    return `must be one of ${s.anyOf.map((o) => String(o.const)).join(', ')}`;
  }
  if (s.pattern?.startsWith('^(')) {
    const protocols = s.pattern.slice(2, s.pattern.indexOf(')')).split('|');
    return `must be a URL starting with ${protocols.map((p) => `${p}://`).join(' or ')}`;
  }
  return message;
}

/**
 * Reads the variables named in `schema` from `env`, converts strings to the schema's types, applies defaults,
 * and throws a ConfigError naming every bad variable at once.
 */
export function loadConfig<T extends TProperties>(
  schema: TObject<T>,
  env: Record<string, string | undefined> = process.env,
): Readonly<Static<TObject<T>>> {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(schema.properties)) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const withDefaults = Value.Default(schema, Value.Clone(raw));
  const converted = Value.Convert(schema, withDefaults) as Record<string, unknown>;
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const error of Value.Errors(schema, converted)) {
    // One `required` error names every missing property at once.
    const keys =
      error.keyword === 'required'
        ? ((error.params as { requiredProperties?: string[] }).requiredProperties ?? [])
        : [error.instancePath.split('/')[1] ?? ''];
    for (const key of keys) {
      if (!key || seen.has(key)) continue;
      seen.add(key);
      const propertySchema = schema.properties[key];
      const reason = error.keyword === 'required' ? 'is required' : explain(error.message, propertySchema);
      problems.push(`${key} ${reason}${error.keyword === 'required' ? '' : ` (${describeValue(raw[key])})`}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(converted) as Readonly<Static<TObject<T>>>;
}

/**
 * For entry points: loads the configuration, or prints the ConfigError's message (no stack trace: it is the
 * operator's input that is wrong, not the code) prefixed with the process name, and exits 1.
 */
export function loadConfigOrExit<T>(processName: string, load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${processName}: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

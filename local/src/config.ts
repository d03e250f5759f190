/** Embedded mode's environment: everything optional, with the embedded defaults (docs/configuration.md). */
import { Env, loadConfig, Type } from '@securecart/config';

export const EmbeddedEnv = Type.Object({
  NODE_ENV: Env.nodeEnv(),
  PORT: Env.port(8080),
  HOST: Type.String({ default: '0.0.0.0' }),
  CATALOG_PORT: Env.port(3001),
  CHECKOUT_PORT: Env.port(3002),
  ORDERS_PORT: Env.port(3003),
  FAUXQS_PORT: Env.port(4566),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'warn' }),
  DATA_DIR: Type.String({ default: '.data', description: 'where PGlite keeps its files, and the notifications folder' }),
  LOCAL_SINK_DIR: Type.Optional(Type.String({ minLength: 1, description: 'where emails and SMS are written (default DATA_DIR/notifications)' })),
  DATABASE_URL: Type.Optional(Env.url(['postgres', 'postgresql'], 'use this Postgres instead of PGlite')),
  DATABASE_READ_URL: Type.Optional(Env.url(['postgres', 'postgresql'], 'a read replica of DATABASE_URL')),
  REDIS_URL: Type.Optional(Env.url(['redis', 'rediss'], 'use this Redis instead of the in-process cache')),
  AWS_REGION: Type.String({ default: 'us-east-1', minLength: 1 }),
  AWS_ENDPOINT_URL: Type.Optional(Env.url(['http', 'https'], 'use this SNS/SQS endpoint instead of the in-process fauxqs')),
  CACHE_NAMESPACE: Type.String({ default: 'securecart', pattern: '^[A-Za-z0-9:_-]+$' }),
  FRAUD_MAX_ORDER_CENTS: Env.positiveInt(1_000_000, 'orders above this total (minor units) are rejected'),
  FRAUD_VELOCITY_MAX: Env.positiveInt(20, 'more orders than this by one customer within the window are rejected'),
  FRAUD_VELOCITY_WINDOW_SECONDS: Env.positiveInt(600, 'the fraud check’s velocity window'),
});

export type EmbeddedConfig = ReturnType<typeof loadEmbeddedConfig>;
export const loadEmbeddedConfig = (env: Record<string, string | undefined> = process.env) => loadConfig(EmbeddedEnv, env);

/**
 * The development identity provider as a process of its own (compose mode, `local/src/dev-idp.ts`). AUTH_ISSUER and
 * AUTH_AUDIENCE are the values every service checks; their defaults are embedded mode's.
 */
export const DevIdpEnv = Type.Object({
  NODE_ENV: Env.nodeEnv(),
  PORT: Env.port(3100),
  HOST: Type.String({ default: '0.0.0.0' }),
  LOG_LEVEL: Env.logLevel(),
  AUTH_ISSUER: Type.String({ default: 'http://localhost:8080', minLength: 1, description: 'the `iss` of every token: the public address of the edge' }),
  AUTH_AUDIENCE: Type.String({ default: 'securecart', minLength: 1, description: 'the `aud` of every token' }),
  TOKEN_TTL_SECONDS: Env.positiveInt(3600, 'how long a minted token is valid'),
});

export type DevIdpConfig = ReturnType<typeof loadDevIdpConfig>;
export const loadDevIdpConfig = (env: Record<string, string | undefined> = process.env) => loadConfig(DevIdpEnv, env);

/**
 * The SNS/SQS emulator as a process of its own (compose mode, `local/src/sqs-emulator.ts`): fauxqs's server with a
 * graceful stop. The variables are fauxqs's own.
 */
export const SqsEmulatorEnv = Type.Object({
  FAUXQS_PORT: Env.port(4566),
  FAUXQS_DEFAULT_REGION: Type.String({ default: 'us-east-1', minLength: 1 }),
  FAUXQS_DATA_DIR: Type.Optional(Type.String({ minLength: 1, description: 'where queues, topics and messages are kept across restarts' })),
});

export type SqsEmulatorConfig = ReturnType<typeof loadSqsEmulatorConfig>;
export const loadSqsEmulatorConfig = (env: Record<string, string | undefined> = process.env) => loadConfig(SqsEmulatorEnv, env);

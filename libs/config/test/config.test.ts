import { describe, expect, it } from 'vitest';
import { ConfigError, Env, loadConfig, Type } from '../src/index.ts';

const schema = Type.Object({
  PORT: Env.port(3000),
  DATABASE_URL: Env.url(['postgres', 'postgresql'], 'primary'),
  REDIS_URL: Type.Optional(Env.url(['redis', 'rediss'], 'redis')),
  LOG_LEVEL: Env.logLevel(),
});

describe('loadConfig', () => {
  it('applies defaults and converts numbers', () => {
    const config = loadConfig(schema, { DATABASE_URL: 'postgres://localhost/db' });
    expect(config).toEqual({ PORT: 3000, DATABASE_URL: 'postgres://localhost/db', LOG_LEVEL: 'info' });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('names every bad variable and why', () => {
    let error: unknown;
    try {
      loadConfig(schema, { PORT: 'eighty', REDIS_URL: 'http://x', LOG_LEVEL: 'loud' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toContain('PORT must be integer (got "eighty")');
    expect(problems).toContain('DATABASE_URL is required');
    expect(problems).toContain('REDIS_URL must be a URL starting with redis:// or rediss:// (got "http://x")');
    expect(problems).toContain('LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")');
  });

  it('names every missing variable, not only the first', () => {
    const two = Type.Object({ A_URL: Type.String(), B_URL: Type.String(), C: Type.String({ default: 'c' }) });
    expect(() => loadConfig(two, {})).toThrow(ConfigError);
    try {
      loadConfig(two, {});
    } catch (e) {
      expect((e as ConfigError).problems).toEqual(['A_URL is required', 'B_URL is required']);
    }
  });

  it('never echoes a password in a URL', () => {
    expect(() => loadConfig(schema, { DATABASE_URL: 'mysql://u:secret@h/db' })).toThrow(/u:\*\*\*@h/);
    expect(() => loadConfig(schema, { DATABASE_URL: 'mysql://u:secret@h/db' })).not.toThrow(/secret/);
  });

  it('rejects a port out of range', () => {
    expect(() => loadConfig(schema, { PORT: '70000', DATABASE_URL: 'postgres://h/d' })).toThrow(/PORT must be <= 65535/);
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { MISSING_INFRA_MESSAGE, setUpInfra } from '../src/infra.ts';

describe('the integration harness', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('fails, saying what to provide, when neither Docker nor the TEST_* variables are there', async () => {
    vi.stubEnv('TEST_DATABASE_URL', '');
    vi.stubEnv('TEST_DATABASE_READ_URL', '');
    vi.stubEnv('TEST_REDIS_URL', '');
    vi.stubEnv('TESTCONTAINERS_DISABLED', 'true');
    for (const key of ['TEST_DATABASE_URL', 'TEST_DATABASE_READ_URL', 'TEST_REDIS_URL']) delete process.env[key];
    await expect(setUpInfra()).rejects.toThrow(MISSING_INFRA_MESSAGE);
    expect(MISSING_INFRA_MESSAGE).toContain('TEST_DATABASE_READ_URL');
  });

  it('names the variables missing when only some are set', async () => {
    vi.stubEnv('TEST_DATABASE_URL', 'postgres://127.0.0.1:1/x');
    vi.stubEnv('TEST_DATABASE_READ_URL', '');
    vi.stubEnv('TEST_REDIS_URL', '');
    delete process.env.TEST_DATABASE_READ_URL;
    delete process.env.TEST_REDIS_URL;
    await expect(setUpInfra()).rejects.toThrow(/Set TEST_DATABASE_READ_URL and TEST_REDIS_URL too/);
  });
});

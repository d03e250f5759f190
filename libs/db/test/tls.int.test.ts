/**
 * TLS to Postgres against a real server that accepts TLS only (tls-postgres.ts): what `sslmode=verify-full` with
 * DATABASE_CA accepts and what it refuses, for every way libs/db connects (pools, single clients for LISTEN,
 * migrations), and that URLs without TLS settings still go to node-postgres as before.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createPool, migrateWithUrl, RDS_CA, type DatabaseCa } from '../src/index.ts';
import { startTlsPostgres, type TlsPostgres } from './tls-postgres.ts';

let server: TlsPostgres;
const SSL_IN_USE = 'select ssl, version from pg_stat_ssl where pid = pg_backend_pid()';

beforeAll(async () => {
  server = await startTlsPostgres();
}, 60_000);

afterAll(() => server?.stop());

/** Runs the pg_stat_ssl query on one connection of a fresh pool, and closes the pool. */
async function sslOfPool(url: string, ca?: DatabaseCa): Promise<{ ssl: boolean; version: string }> {
  const pool = createPool(url, { name: 'tls-test', ca, connectTimeoutMs: 5_000 });
  try {
    return (await pool.query(SSL_IN_USE)).rows[0];
  } finally {
    await pool.end();
  }
}

/** The error a connection fails with (the test fails if it succeeds). */
async function refusal(connect: () => Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await connect();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('the connection was accepted');
}

describe('a pool asked for sslmode=verify-full with DATABASE_CA', () => {
  it('connects to a server whose certificate the CA signed for the host name it was given, over TLS', async () => {
    expect(await sslOfPool(server.url('localhost', 'sslmode=verify-full'), server.caFile)).toEqual({ ssl: true, version: expect.stringMatching(/^TLSv1\.[23]$/) });
  });

  it('refuses the server when DATABASE_CA is the Amazon RDS CAs, which did not sign its certificate', async () => {
    const error = await refusal(() => sslOfPool(server.url('localhost', 'sslmode=verify-full'), RDS_CA));
    expect(error.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('refuses the server when DATABASE_CA is another CA', async () => {
    const error = await refusal(() => sslOfPool(server.url('localhost', 'sslmode=verify-full'), server.otherCaFile));
    expect(error.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('refuses a host name the certificate does not name, even with the right CA (127.0.0.1 for a localhost certificate)', async () => {
    const error = await refusal(() => sslOfPool(server.url('127.0.0.1', 'sslmode=verify-full'), server.caFile));
    expect(error.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(error.message).toContain('127.0.0.1');
  });

  it('with sslmode=no-verify encrypts without checking the certificate: the switch for a debugging session', async () => {
    expect((await sslOfPool(server.url('127.0.0.1', 'sslmode=no-verify'), RDS_CA)).ssl).toBe(true);
  });

  it('keeps the URL’s other parameters', async () => {
    const pool = createPool(server.url('localhost', 'application_name=from-the-url&sslmode=verify-full'), { name: 'tls-test', ca: server.caFile });
    try {
      const { rows } = await pool.query(`select current_setting('application_name') as name, ssl from pg_stat_ssl where pid = pg_backend_pid()`);
      expect(rows[0]).toEqual({ name: 'from-the-url', ssl: true });
    } finally {
      await pool.end();
    }
  });
});

describe('a single client (LISTEN) with DATABASE_CA', () => {
  async function sslOfClient(url: string, ca: DatabaseCa): Promise<boolean> {
    const client: pg.Client = createClient(url, { name: 'tls-listen-test', ca, connectTimeoutMs: 5_000 });
    await client.connect();
    try {
      await client.query('listen tls_test');
      return (await client.query(SSL_IN_USE)).rows[0].ssl;
    } finally {
      await client.end();
    }
  }

  it('connects over TLS with the CA that signed the server’s certificate', async () => {
    expect(await sslOfClient(server.url('localhost', 'sslmode=verify-full'), server.caFile)).toBe(true);
  });

  it('refuses an unknown CA and a host name the certificate does not name', async () => {
    expect((await refusal(() => sslOfClient(server.url('localhost', 'sslmode=verify-full'), RDS_CA))).code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect((await refusal(() => sslOfClient(server.url('127.0.0.1', 'sslmode=verify-full'), server.caFile))).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });
});

describe('migrations with DATABASE_CA', () => {
  let folder: string;

  beforeAll(() => {
    folder = mkdtempSync(path.join(tmpdir(), 'securecart-tls-migrations-'));
    mkdirSync(path.join(folder, 'meta'));
    writeFileSync(
      path.join(folder, 'meta/_journal.json'),
      JSON.stringify({ version: '7', dialect: 'postgresql', entries: [{ idx: 0, version: '7', when: 1_700_000_000_000, tag: '0000_init', breakpoints: true }] }),
    );
    writeFileSync(path.join(folder, '0000_init.sql'), 'create schema if not exists tls_probe;\n--> statement-breakpoint\ncreate table tls_probe.applied (id int primary key);\n');
  });

  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('are applied over a verified connection, and refused with a CA that did not sign the server’s certificate', async () => {
    const url = server.url('localhost', 'sslmode=verify-full');
    await expect(migrateWithUrl(url, { schema: 'tls_probe', folder }, { ca: RDS_CA })).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    await migrateWithUrl(url, { schema: 'tls_probe', folder }, { ca: server.caFile });
    const pool = createPool(url, { name: 'tls-test', ca: server.caFile });
    try {
      expect((await pool.query(`select to_regclass('tls_probe.applied')::text as t`)).rows[0].t).toBe('tls_probe.applied');
    } finally {
      await pool.end();
    }
  });
});

describe('without DATABASE_CA (the URL goes to node-postgres as it is)', () => {
  it('a URL without sslmode does not use TLS, and the hostssl-only server refuses it', async () => {
    const error = await refusal(() => sslOfPool(server.url('localhost')));
    expect(error.message).toMatch(/no pg_hba\.conf entry .*no encryption/);
  });

  it('sslmode=verify-full with sslrootcert in the URL connects, over TLS', async () => {
    expect((await sslOfPool(server.url('localhost', `sslmode=verify-full&sslrootcert=${encodeURIComponent(server.caFile)}`))).ssl).toBe(true);
  });

  it('sslmode=verify-full alone checks against Node’s root certificates, which do not know this CA', async () => {
    const error = await refusal(() => sslOfPool(server.url('localhost', 'sslmode=verify-full')));
    expect(error.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });
});

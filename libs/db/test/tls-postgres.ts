/**
 * A throwaway Postgres that accepts TLS connections only, for the TLS tests: a certificate authority made with
 * openssl for this run, a server certificate it signs for the name `localhost` only (no IP address), a postmaster
 * of this machine's PostgreSQL binaries on a free port with `ssl=on`, and a pg_hba.conf of `hostssl` lines only, so a
 * connection without TLS finds no entry. Like scripts/pg-replica.sh and local/test/compose-postgres.int.test.ts, it
 * runs the server as the postgres user (the tests run as root or as postgres).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TlsPostgres {
  port: number;
  /** the PEM file of the CA that signed the server's certificate */
  caFile: string;
  /** the PEM file of another CA, which signed nothing this server shows */
  otherCaFile: string;
  /** a URL of the server under `host` (the certificate names `localhost`, not 127.0.0.1) with these query parameters */
  url(host: 'localhost' | '127.0.0.1', query?: string): string;
  /** stops the postmaster and deletes its directory */
  stop(): void;
}

function pgBin(): string {
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b)) : [];
  const bin = process.env.PG_BIN ?? (versions.length ? `/usr/lib/postgresql/${versions.at(-1)}/bin` : '');
  if (!existsSync(path.join(bin, 'pg_ctl'))) throw new Error('the PostgreSQL server binaries were not found (set PG_BIN, e.g. /usr/lib/postgresql/15/bin)');
  return bin;
}

function run(argv: string[], what: string): void {
  const [command, ...args] = argv;
  const result = spawnSync(command!, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${what} failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
}

/** argv run as the postgres user. */
function asPostgres(argv: string[]): string[] {
  if (process.getuid?.() === 0) return ['runuser', '-u', 'postgres', '--', ...argv];
  if (process.env.USER === 'postgres') return argv;
  throw new Error('the TLS Postgres runs as the postgres user: run the tests as root or as postgres (as scripts/pg-replica.sh needs)');
}

function postgresIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** @securecart/testing's freePort, which libs/db cannot import: testing depends on http-kit, which depends on db. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const OPENSSL_CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

/** A CA, another CA, and a server certificate for `localhost` signed by the first, in `dir`. */
function makeCertificates(dir: string) {
  const file = (name: string) => path.join(dir, name);
  writeFileSync(file('openssl.cnf'), OPENSSL_CONFIG);
  const key = (name: string) => run(['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file(name)], `openssl genpkey ${name}`);
  for (const ca of ['ca', 'other-ca']) {
    key(`${ca}.key`);
    run(['openssl', 'req', '-x509', '-new', '-key', file(`${ca}.key`), '-config', file('openssl.cnf'), '-extensions', 'ca', '-subj', `/CN=SecureCart test ${ca}`, '-days', '2', '-out', file(`${ca}.crt`)], `openssl req ${ca}`);
  }
  key('server.key');
  run(['openssl', 'req', '-new', '-key', file('server.key'), '-config', file('openssl.cnf'), '-subj', '/CN=localhost', '-out', file('server.csr')], 'openssl req server');
  run(
    ['openssl', 'x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', file('openssl.cnf'), '-extensions', 'server', '-out', file('server.crt')],
    'openssl x509 server',
  );
  return { caFile: file('ca.crt'), otherCaFile: file('other-ca.crt'), certFile: file('server.crt'), keyFile: file('server.key') };
}

export async function startTlsPostgres(): Promise<TlsPostgres> {
  const bin = pgBin();
  const dir = mkdtempSync(path.join(tmpdir(), 'securecart-tls-pg-'));
  const data = path.join(dir, 'data');
  const sockets = path.join(dir, 'sockets');
  const owner = postgresIds();
  let started = false;
  const stop = () => {
    if (started) {
      run([...asPostgres([path.join(bin, 'pg_ctl'), '-D', data, '-w', '-m', 'immediate', 'stop'])], 'stopping the TLS Postgres');
      started = false;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    chmodSync(dir, 0o755);
    mkdirSync(sockets);
    const tls = makeCertificates(dir);
    // Postgres refuses a key that others may read; the CA files stay the test's.
    chmodSync(tls.keyFile, 0o600);
    if (owner) for (const d of [dir, sockets, tls.keyFile, tls.certFile]) chownSync(d, owner.uid, owner.gid);

    run(asPostgres([path.join(bin, 'initdb'), '-D', data, '-U', 'postgres', '--auth=trust', '--no-sync']), 'initdb');
    // hostssl only: a connection without TLS matches no line and is refused.
    const hba = path.join(dir, 'pg_hba.conf');
    writeFileSync(hba, 'hostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n');
    if (owner) chownSync(hba, owner.uid, owner.gid);

    const port = await freePort();
    const options = [
      `-p ${port}`,
      '-c listen_addresses=localhost',
      `-c unix_socket_directories=${sockets}`,
      `-c hba_file=${hba}`,
      '-c ssl=on',
      `-c ssl_cert_file=${tls.certFile}`,
      `-c ssl_key_file=${tls.keyFile}`,
      '-c fsync=off',
    ].join(' ');
    // -l: a server writing to our pipes would keep spawnSync waiting for as long as it runs
    run(asPostgres([path.join(bin, 'pg_ctl'), '-D', data, '-w', '-t', '60', '-l', path.join(dir, 'server.log'), '-o', options, 'start']), 'starting the TLS Postgres');
    started = true;
    return {
      port,
      caFile: tls.caFile,
      otherCaFile: tls.otherCaFile,
      url: (host, query = '') => `postgres://postgres@${host}:${port}/postgres${query ? `?${query}` : ''}`,
      stop,
    };
  } catch (error) {
    stop();
    throw error;
  }
}

/**
 * Every SecureCart process as a child of the benchmark that it may kill and start again, on the same port with the
 * same environment, as an orchestrator restarts a task: catalog, checkout, the orders-worker, fulfillment,
 * notifications (local sink) and orders, configured as bench/pipeline.bench.ts configures them. Each process
 * appends its output to `<logDir>/<name>.log`, across restarts. A process that dies of anything the benchmark did
 * not do is restarted a second later and remembered, so a run can say so.
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { answers200, exited, freePort, startProcess, type Child } from './harness.ts';

export interface Service {
  name: string;
  script: string;
  env: Record<string, string>;
  /** its /health/ready */
  readyUrl: string;
  child: Child;
  /** the benchmark has it down on purpose */
  down: boolean;
}

export interface Stack {
  services: Service[];
  byName(name: string): Service;
  /** `name (exit code or signal)` of each process that died by itself */
  unexpectedExits: string[];
  /** SIGKILL (the process and whatever it holds); `restart` starts it again */
  kill(name: string): Promise<void>;
  restart(name: string): void;
  /** stops restarting processes that die, before they are stopped at the end */
  stopSupervising(): void;
}

export interface StackSettings {
  databaseUrl: string;
  redisUrl: string;
  /** the SNS/SQS emulator */
  awsEndpoint: string;
  /** AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE */
  auth: Record<string, string>;
  sinkDir: string;
  logDir: string;
  logLevel: string;
}

/** Resolves when every process that is up answers /health/ready with 200; throws after `deadline`. */
export async function waitReady(services: Service[], deadline: number): Promise<number> {
  for (;;) {
    const answers = await Promise.all(services.map((s) => (s.down || exited(s.child.process) ? false : answers200(s.readyUrl)().catch(() => false))));
    if (answers.every(Boolean)) return Date.now();
    if (Date.now() > deadline) throw new Error(`not ready: ${services.filter((_, i) => !answers[i]).map((s) => s.name).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function startStack(settings: StackSettings): Promise<Stack> {
  const { databaseUrl, logDir } = settings;
  const common = {
    NODE_ENV: 'production', LOG_LEVEL: settings.logLevel, HOST: '127.0.0.1', REDIS_URL: settings.redisUrl,
    CACHE_NAMESPACE: `bench-${randomBytes(4).toString('hex')}`, RATE_LIMIT_MAX: '100000000',
  };
  const messaging = { AWS_ENDPOINT_URL: settings.awsEndpoint, MESSAGING_PREFIX: '' };
  const launch = (service: Omit<Service, 'child' | 'down'>): Service => ({ ...service, down: false, child: spawn(service) });
  const spawn = (service: Pick<Service, 'name' | 'script' | 'env'>) => startProcess(service.script, service.env, { logFile: path.join(logDir, `${service.name}.log`) });
  const [catalogPort, checkoutPort, ordersPort] = [await freePort(), await freePort(), await freePort()];
  const catalogUrl = `http://127.0.0.1:${catalogPort}`;
  const server = (name: string, script: string, port: number, env: Record<string, string>) =>
    launch({ name, script, readyUrl: `http://127.0.0.1:${port}/health/ready`, env: { ...common, ...settings.auth, PORT: String(port), ...env } });
  const worker = async (name: string, script: string, env: Record<string, string>) => {
    const probePort = await freePort();
    return launch({ name, script, readyUrl: `http://127.0.0.1:${probePort}/health/ready`, env: { ...common, ...messaging, DATABASE_URL: databaseUrl, PROBE_PORT: String(probePort), ...env } });
  };
  const services = [
    server('catalog', 'services/catalog/src/server.ts', catalogPort, { ...messaging, DATABASE_URL: databaseUrl }),
    server('checkout', 'services/checkout/src/server.ts', checkoutPort, { ...messaging, CATALOG_INTERNAL_URL: catalogUrl }),
    await worker('orders-worker', 'services/orders/src/worker.ts', {}),
    await worker('fulfillment', 'services/fulfillment/src/worker.ts', { CATALOG_INTERNAL_URL: catalogUrl, FRAUD_VELOCITY_MAX: '1000000', FRAUD_MAX_ORDER_CENTS: '100000000' }),
    await worker('notifications', 'services/notifications/src/worker.ts', { NODE_ENV: 'development', NOTIFY_CHANNELS: 'local-sink', LOCAL_SINK_DIR: settings.sinkDir }),
  ];
  // orders serves the schema the orders-worker migrates
  await waitReady(services, Date.now() + 60_000);
  services.push(server('orders', 'services/orders/src/server.ts', ordersPort, { DATABASE_URL: databaseUrl }));
  await waitReady(services, Date.now() + 60_000);

  const byName = (name: string) => {
    const service = services.find((s) => s.name === name);
    if (!service) throw new Error(`no process named ${name}`);
    return service;
  };
  const restart = (service: Service) => {
    service.child = spawn(service);
    service.down = false;
  };
  const unexpectedExits: string[] = [];
  let supervising = true;
  const supervisor = setInterval(() => {
    for (const service of services.filter((s) => !s.down && exited(s.child.process))) {
      const { exitCode, signalCode } = service.child.process;
      unexpectedExits.push(`${service.name} (${exitCode ?? signalCode})`);
      console.error(`!! ${service.name} exited by itself (${exitCode ?? signalCode}); restarting it in 1 s`);
      service.down = true;
      setTimeout(() => supervising && restart(service), 1_000);
    }
  }, 250);
  const stopSupervising = () => {
    supervising = false;
    clearInterval(supervisor);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, stopSupervising);
  return {
    services,
    byName,
    unexpectedExits,
    async kill(name) {
      const service = byName(name);
      service.down = true;
      await service.child.kill();
    },
    restart: (name) => restart(byName(name)),
    stopSupervising,
  };
}

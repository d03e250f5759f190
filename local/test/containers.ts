/**
 * The container definitions as the tests read them: docker-compose.yml, Dockerfile.base and .dockerignore, and an
 * image's filesystem assembled without a Docker engine (there is none on CI): the build context as .dockerignore
 * leaves it, then Dockerfile.base's own RUN steps, run by /bin/sh in folders standing for the stages.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import {
  CatalogEnv, loadCatalogConfig,
} from '@securecart/catalog';
import { CheckoutEnv, loadCheckoutConfig } from '@securecart/checkout';
import { FulfillmentEnv, loadFulfillmentConfig } from '@securecart/fulfillment';
import { loadNotificationsWorkerConfig, NotificationsWorkerEnv } from '@securecart/notifications';
import { loadOrdersConfig, loadOrdersWorkerConfig, OrdersEnv, OrdersWorkerEnv } from '@securecart/orders';
import { DevIdpEnv, loadDevIdpConfig } from '../src/config.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// ---------------------------------------------------------------------------------------------------------------
// docker-compose.yml

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string; args?: Record<string, string> };
  entrypoint?: string[];
  command?: string[];
  working_dir?: string;
  user?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean; interval?: string; timeout?: string; retries?: number; start_period?: string };
  ports?: string[];
  volumes?: string[];
  restart?: string;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

export function readCompose(file = path.join(ROOT, 'docker-compose.yml')): ComposeFile {
  // merge: the file shares its environment and healthcheck blocks through YAML merge keys (<<), as Compose reads them
  return parse(readFileSync(file, 'utf8'), { merge: true }) as ComposeFile;
}

/**
 * The build of a service's image: its own, or that of the service that builds the same image (Compose builds an
 * image once, for every service that names it, and does not try to pull it).
 */
export function buildOf(compose: ComposeFile, name: string): ComposeService['build'] {
  const service = compose.services[name];
  if (!service) throw new Error(`docker-compose.yml has no service ${name}`);
  return service.build ?? Object.values(compose.services).find((s) => s.build && s.image === service.image)?.build;
}

/**
 * Every process SecureCart runs, with the schema its config module validates its environment against, the loader
 * that adds the cross-variable rules, and the variable naming the port its /health/* answer on.
 * The services/ processes are found on disk too (processesInServices), so a new one cannot be forgotten here.
 */
export const PROCESSES = {
  catalog: { entry: 'services/catalog/src/server.ts', schema: CatalogEnv, load: loadCatalogConfig, portVariable: 'PORT' },
  checkout: { entry: 'services/checkout/src/server.ts', schema: CheckoutEnv, load: loadCheckoutConfig, portVariable: 'PORT' },
  orders: { entry: 'services/orders/src/server.ts', schema: OrdersEnv, load: loadOrdersConfig, portVariable: 'PORT' },
  'orders-worker': { entry: 'services/orders/src/worker.ts', schema: OrdersWorkerEnv, load: loadOrdersWorkerConfig, portVariable: 'PROBE_PORT' },
  fulfillment: { entry: 'services/fulfillment/src/worker.ts', schema: FulfillmentEnv, load: loadFulfillmentConfig, portVariable: 'PROBE_PORT' },
  notifications: { entry: 'services/notifications/src/worker.ts', schema: NotificationsWorkerEnv, load: loadNotificationsWorkerConfig, portVariable: 'PROBE_PORT' },
  'dev-idp': { entry: 'local/src/dev-idp.ts', schema: DevIdpEnv, load: loadDevIdpConfig, portVariable: 'PORT' },
} as const;
export type ProcessName = keyof typeof PROCESSES;

/**
 * The entry points under services/: src/server.ts is the service itself; src/worker.ts is `<name>-worker` beside a
 * server, or the service itself when it is only a worker (fulfillment, notifications).
 */
export function processesInServices(): Record<string, string> {
  const found: Record<string, string> = {};
  for (const name of readdirSync(path.join(ROOT, 'services'))) {
    const has = (file: string) => existsSync(path.join(ROOT, 'services', name, 'src', file));
    if (has('server.ts')) found[name] = `services/${name}/src/server.ts`;
    if (has('worker.ts')) found[has('server.ts') ? `${name}-worker` : name] = `services/${name}/src/worker.ts`;
  }
  return found;
}

/** The default of a variable in a config schema (TypeBox `default`), e.g. PORT → 3001. */
export function schemaDefault(schema: { properties: Record<string, unknown> }, variable: string): unknown {
  return (schema.properties[variable] as { default?: unknown } | undefined)?.default;
}

// ---------------------------------------------------------------------------------------------------------------
// Dockerfile.base

export interface Instruction {
  keyword: string;
  args: string;
}
export interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

/** The stages of a Dockerfile: comments dropped, continuation lines joined, one instruction per entry. */
export function readDockerfile(file = path.join(ROOT, 'Dockerfile.base')): Stage[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    if (/^\s*#/.test(raw) || (current === '' && raw.trim() === '')) continue;
    if (raw.endsWith('\\')) {
      current += raw.slice(0, -1);
      continue;
    }
    logical.push(current + raw);
    current = '';
  }
  const stages: Stage[] = [];
  for (const line of logical) {
    const match = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(line);
    if (!match) continue;
    const keyword = match[1]!.toUpperCase();
    const args = match[2]!.trim();
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ from: from?.[1] ?? args, name: from?.[2] ?? `stage-${stages.length}`, instructions: [] });
      continue;
    }
    stages.at(-1)?.instructions.push({ keyword, args });
  }
  return stages;
}

export function stage(stages: Stage[], name: string): Stage {
  const found = stages.find((s) => s.name === name);
  if (!found) throw new Error(`Dockerfile.base has no stage named ${name}`);
  return found;
}

/** The exec-form (JSON array) arguments of an instruction such as ENTRYPOINT or CMD. */
export function execForm(instruction: Instruction | undefined): string[] | undefined {
  if (!instruction) return undefined;
  const json = instruction.args.replace(/^--\S+\s+/g, '');
  return json.startsWith('[') ? (JSON.parse(json) as string[]) : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// .dockerignore and the build context

/**
 * .dockerignore as Docker reads it (moby/patternmatcher): patterns are relative to the context root, `*` and `?`
 * stay within a path segment, `**` spans any number of them, a pattern that matches a folder excludes everything
 * in it, `!` re-includes, and the last pattern that matches a path decides.
 */
export function dockerignore(file = path.join(ROOT, '.dockerignore')): (relativePath: string) => boolean {
  const rules = readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const include = l.startsWith('!');
      const pattern = path.posix.normalize((include ? l.slice(1) : l).replace(/^\/+/, ''));
      return { include, regex: new RegExp(`^${globToRegex(pattern)}$`) };
    });
  return (relativePath) => {
    const parts = relativePath.split('/');
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) {
      if (candidates.some((c) => rule.regex.test(c))) excluded = !rule.include;
    }
    return excluded;
  };
}

function globToRegex(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      const slashAfter = pattern[i + 2] === '/';
      out += slashAfter ? '(?:.*/)?' : '.*';
      i += slashAfter ? 2 : 1;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return out;
}

/** The files of the working tree (tracked and new, not git-ignored) that the build context sends to Docker. */
export function buildContextFiles(): string[] {
  const listed = spawnSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr}`);
  const ignored = dockerignore();
  return listed.stdout
    .split('\0')
    .filter((f) => f !== '' && existsSync(path.join(ROOT, f)))
    .filter((f) => !ignored(f));
}

// ---------------------------------------------------------------------------------------------------------------
// An image's filesystem, without Docker

export interface ImageArgs {
  PACKAGE_DIR: string;
  ENTRY: string;
  HEALTH_PORT: string;
}

export interface AssembledImage {
  /** the folder standing for the image's /app */
  app: string;
  entrypoint: string[];
  cmd: string[];
  /** the runtime stage's ENV */
  env: Record<string, string>;
  /** the runtime stage's WORKDIR */
  workdir: string;
}

function run(script: string, cwd: string, env: Record<string, string>, what: string): void {
  const result = spawnSync('/bin/sh', ['-c', script], { cwd, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    throw new Error(`${what} failed (exit ${result.status}):\n${script}\n--- output ---\n${result.stdout}\n${result.stderr}`);
  }
}

function runs(s: Stage): string[] {
  return s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args.replace(/^(?:--mount=\S+\s+)+/, ''));
}

/** The build context, copied once into `dir/context`. */
export function copyBuildContext(dir: string): string {
  const context = path.join(dir, 'context');
  if (!existsSync(context)) {
    for (const file of buildContextFiles()) {
      mkdirSync(path.dirname(path.join(context, file)), { recursive: true });
      cpSync(path.join(ROOT, file), path.join(context, file));
    }
  }
  return context;
}

/**
 * Builds one image as Dockerfile.base says, with its build arguments: the `manifests` stage's RUN on a copy of
 * the context, the `deps` stage's install (offline, from the machine's pnpm store instead of the BuildKit cache),
 * the `build` stage's RUN on the context copied over it, and the `runtime` stage's /app. The RUN steps are read from
 * Dockerfile.base, so this fails when they fail. Only apt-get (tini in the runtime stage) and installing pnpm
 * (already here) are not run.
 */
export function assembleImage(args: ImageArgs, dir: string, name: string): AssembledImage {
  const stages = readDockerfile();
  const context = copyBuildContext(dir);
  const storeDir = spawnSync('pnpm', ['store', 'path'], { cwd: ROOT, encoding: 'utf8' });
  if (storeDir.status !== 0) throw new Error(`pnpm is needed to assemble images (pnpm store path failed: ${storeDir.stderr})`);
  const env = { ...args };
  const work = path.join(dir, name);
  const out = path.join(work, 'out');

  const manifests = path.join(work, 'manifests');
  cpSync(context, manifests, { recursive: true });
  for (const script of runs(stage(stages, 'manifests'))) run(script, manifests, env, 'manifests stage');

  const build = path.join(work, 'build');
  cpSync(manifests, build, { recursive: true });
  for (const script of runs(stage(stages, 'deps'))) {
    if (/npm install -g pnpm/.test(script)) continue;
    // offline from this machine's store; hard links instead of copies (the image copies because its store is a
    // cache mount on another filesystem; here the store is on this one, and nothing writes to these files)
    const local = script
      .replaceAll('/pnpm/store', storeDir.stdout.trim())
      .replace('pnpm install ', 'pnpm install --offline ')
      .replace('--package-import-method copy', '--package-import-method hardlink');
    run(local, build, env, 'deps stage');
  }
  cpSync(context, build, { recursive: true });
  for (const script of runs(stage(stages, 'build'))) run(script.replaceAll('/out', out), build, env, 'build stage');

  const runtime = stage(stages, 'runtime');
  const imageEnv: Record<string, string> = {};
  for (const i of runtime.instructions.filter((x) => x.keyword === 'ENV')) {
    const [key, ...value] = i.args.split('=');
    imageEnv[key!] = value.join('=').replace(/\$\{(\w+)\}/g, (_, arg: string) => env[arg as keyof ImageArgs] ?? '');
  }
  const last = (keyword: string) => runtime.instructions.filter((x) => x.keyword === keyword).at(-1);
  return {
    app: out,
    entrypoint: execForm(last('ENTRYPOINT')) ?? [],
    cmd: execForm(last('CMD')) ?? [],
    env: imageEnv,
    workdir: last('WORKDIR')?.args ?? '/',
  };
}

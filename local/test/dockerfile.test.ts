/**
 * Dockerfile.base and .dockerignore, held to what matters when no Docker engine can build them here: a pinned base
 * (the Node the workspace pins), a cached production-only install of one package's closure, a non-root process
 * under an init, a health check without curl, every process buildable through its arguments, and a build context
 * that carries every source a process runs and nothing it does not. (compose-stack.int.test.ts runs the RUN steps.)
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildContextFiles, dockerignore, execForm, PROCESSES, readCompose, readDockerfile, ROOT, stage } from './containers.ts';

const stages = readDockerfile();
const runtime = stage(stages, 'runtime');
const last = (keyword: string) => runtime.instructions.filter((i) => i.keyword === keyword).at(-1);
const pinnedNode = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies: { node: string } }).devDependencies.node;

describe('Dockerfile.base', () => {
  it('builds every stage on the Node the workspace pins, by a full version tag of the slim image and never a digest', () => {
    const external = stages.map((s) => s.from).filter((from) => !stages.some((s) => s.name === from));
    expect(external.length).toBeGreaterThan(0);
    for (const from of external) {
      expect(from).toMatch(/^node:\d+\.\d+\.\d+-(?:[a-z]+-)?slim$/);
      expect(from).not.toContain('@sha256');
      expect(from).toBe(`node:${pinnedNode}-bookworm-slim`);
    }
  });

  it('installs with pnpm 10 from a BuildKit cache, production dependencies of one package’s closure only, from the lockfile', () => {
    const deps = stage(stages, 'deps').instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(deps.some((r) => /npm install -g pnpm@10\b/.test(r))).toBe(true);
    const install = deps.find((r) => /pnpm install/.test(r));
    expect(install).toMatch(/^--mount=type=cache,[^ ]*target=\/pnpm\/store/);
    expect(install).toContain('--store-dir /pnpm/store');
    expect(install).toContain('--frozen-lockfile');
    expect(install).toContain('--prod');
    expect(install).toContain('--filter-prod "{./${PACKAGE_DIR}}..."');
  });

  it('takes the process from its build arguments and checks that its entry point exists', () => {
    const build = stage(stages, 'build');
    expect(build.instructions.filter((i) => i.keyword === 'ARG').map((i) => i.args)).toEqual(expect.arrayContaining(['PACKAGE_DIR', 'ENTRY', 'HEALTH_PORT']));
    const script = build.instructions.find((i) => i.keyword === 'RUN')!.args;
    expect(script).toContain('test -f "${PACKAGE_DIR}/${ENTRY}"');
    expect(script).toContain('ln -s "${PACKAGE_DIR}/${ENTRY}" /out/main.ts');
  });

  it('runs as a non-root user, under tini, the entry point as node’s argument', () => {
    const user = last('USER')?.args;
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
    expect(execForm(last('ENTRYPOINT'))).toEqual(['/usr/bin/tini', '--', 'node']);
    expect(execForm(last('CMD'))).toEqual(['main.ts']);
    expect(runtime.instructions.some((i) => i.keyword === 'RUN' && /apt-get install -y --no-install-recommends tini/.test(i.args))).toBe(true);
    // the runtime stage copies the pruned build only: no pnpm, no store, no sources outside the closure
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    expect(copies).toEqual(['scripts/http-probe.sh /usr/local/bin/http-probe', '--from=build /out/ /app/']);
    expect(runtime.instructions.find((i) => i.keyword === 'ENV' && i.args.startsWith('NODE_ENV='))?.args).toBe('NODE_ENV=production');
  });

  it('has a HEALTHCHECK that asks /health/live with http-probe, without starting Node (the slim image has no curl)', () => {
    const healthcheck = last('HEALTHCHECK')!;
    expect(healthcheck.args).toMatch(/--interval=\d+s/);
    expect(healthcheck.args).toMatch(/--start-period=\d+s/);
    const command = execForm({ keyword: 'CMD', args: healthcheck.args.replace(/^(?:--\S+\s+)+CMD\s+/, '') })!;
    expect(command).toEqual(['http-probe']);
    expect(readFileSync(path.join(ROOT, 'scripts/http-probe.sh'), 'utf8')).toContain('${PROBE_PORT:-${PORT:-${HEALTHCHECK_PORT:-}}}');
    expect(runtime.instructions.find((i) => i.keyword === 'ENV' && i.args.startsWith('HEALTHCHECK_PORT='))?.args).toBe('HEALTHCHECK_PORT=${HEALTH_PORT}');
  });

  it('builds every image docker-compose.yml names from its arguments, each an entry point that exists', () => {
    const built = Object.entries(readCompose().services).filter(([, s]) => s.build);
    expect(built.length).toBeGreaterThanOrEqual(Object.keys(PROCESSES).length);
    for (const [name, service] of built) {
      expect(service.build!.dockerfile, name).toBe('Dockerfile.base');
      expect(service.build!.context, name).toBe('.');
      const { PACKAGE_DIR, ENTRY, HEALTH_PORT } = service.build!.args ?? {};
      expect(HEALTH_PORT, name).toMatch(/^\d+$/);
      expect(() => readFileSync(path.join(ROOT, PACKAGE_DIR!, ENTRY!)), `${name}: ${PACKAGE_DIR}/${ENTRY}`).not.toThrow();
    }
  });
});

describe('.dockerignore', () => {
  const ignored = dockerignore();

  it('keeps dependencies, local data, tests, benchmarks, docs and git history out of the build context', () => {
    const entries = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    expect(entries).toEqual(expect.arrayContaining(['**/node_modules', '**/.data', '**/test', 'bench', 'docs', '.git']));
    for (const file of [
      'node_modules/.pnpm/lock.yaml', 'services/orders/node_modules/pg/package.json', '.data/pglite/PG_VERSION', '.git/HEAD',
      'services/orders/test/harness.ts', 'libs/db/test/migrate.int.test.ts', 'local/test/embedded.int.test.ts', 'bench/package.json',
      'docs/architecture.md', 'deploy/copilot/.workspace', 'services/catalog/drizzle.config.ts', 'compose/nginx/edge.conf',
    ]) {
      expect(ignored(file), file).toBe(true);
    }
  });

  it('sends every source, migration and manifest a process runs', () => {
    const context = new Set(buildContextFiles());
    for (const file of ['package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml', '.npmrc', '.pnpmfile.cjs', 'local/package.json', 'local/src/dev-idp.ts']) {
      expect(context.has(file), file).toBe(true);
    }
    const sent = [...context];
    for (const { entry } of Object.values(PROCESSES)) expect(context.has(entry), entry).toBe(true);
    for (const service of ['catalog', 'orders', 'fulfillment', 'notifications']) {
      expect(sent.some((f) => f.startsWith(`services/${service}/src/db/migrations/`) && f.endsWith('.sql')), service).toBe(true);
      expect(sent.some((f) => f.startsWith(`services/${service}/src/db/migrations/meta/`)), service).toBe(true);
    }
    expect(sent.filter((f) => /(^|\/)(test|node_modules|\.data)\//.test(f) || f.endsWith('.test.ts'))).toEqual([]);
  });
});

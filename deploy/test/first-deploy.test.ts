/**
 * deploy/first-deploy.sh, run against stand-ins for `copilot` and `aws` that record what they are asked: the order
 * of the deployments, the fulfillment bootstrap while the orders-worker's topic does not exist, and the workspace
 * left as it was, whether the deployments succeed or fail. The script runs on a copy of deploy/, so the other tests
 * never see a swapped manifest.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEPLOY_DIR } from './workspace.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function run(options: { topicExists: boolean; failOn?: string }) {
  const root = mkdtempSync(join(tmpdir(), 'first-deploy-'));
  dirs.push(root);
  const deploy = join(root, 'deploy');
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(deploy, { recursive: true });
  for (const part of ['first-deploy.sh', 'copilot', 'bootstrap']) cpSync(join(DEPLOY_DIR, part), join(deploy, part), { recursive: true });
  const bin = join(root, 'bin');
  const log = join(root, 'calls.log');
  writeFileSync(
    join(root, 'copilot'),
    `#!/usr/bin/env bash
# copilot deploy --init-wkld --deploy-env=false --name <service> --env <env>
name=$5; env=$7
topics=$(grep -c 'service: orders-worker' copilot/fulfillment/manifest.yml || true)
overrides=$([ -d copilot/fulfillment/overrides ] && echo yes || echo no)
echo "$1 $2 $3 name=$name env=$env fulfillment-subscriptions=$topics fulfillment-overrides=$overrides" >> "${log}"
[ "$name" != "${options.failOn ?? ''}" ]
`,
  );
  writeFileSync(
    join(root, 'aws'),
    `#!/usr/bin/env bash
echo "aws $*" >> "${log}"
printf 'arn:aws:sns:eu-west-1:123456789012:securecart-prod-checkout-checkoutEvents\\t%s\\n' \\
  '${options.topicExists ? 'arn:aws:sns:eu-west-1:123456789012:securecart-prod-orders-worker-orderEvents' : 'arn:aws:sns:eu-west-1:123456789012:other-prod-orders-worker-orderEvents'}'
`,
  );
  cpSync(join(root, 'copilot'), join(bin, 'copilot'));
  cpSync(join(root, 'aws'), join(bin, 'aws'));
  chmodSync(join(bin, 'copilot'), 0o755);
  chmodSync(join(bin, 'aws'), 0o755);
  const result = spawnSync('bash', [join(deploy, 'first-deploy.sh'), 'prod'], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, SECURECART_DOMAIN: 'api.shop.example' }, encoding: 'utf8' });
  const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
  const deploys = calls.filter((line) => line.startsWith('deploy')).map((line) => line.replace(/^deploy --init-wkld --deploy-env=false /, ''));
  const unchanged = (file: string) => readFileSync(join(deploy, file), 'utf8') === readFileSync(join(DEPLOY_DIR, file), 'utf8');
  return { result, deploys, calls, unchanged };
}

describe('deploy/first-deploy.sh', () => {
  it('deploys fulfillment first without its subscription while the orders-worker’s topic does not exist, then everything in full', () => {
    const { result, deploys, unchanged } = run({ topicExists: false });
    expect(result.status, result.stderr).toBe(0);
    expect(deploys).toEqual([
      'name=catalog env=prod fulfillment-subscriptions=1 fulfillment-overrides=yes',
      'name=checkout env=prod fulfillment-subscriptions=1 fulfillment-overrides=yes',
      'name=orders env=prod fulfillment-subscriptions=1 fulfillment-overrides=yes',
      'name=fulfillment env=prod fulfillment-subscriptions=0 fulfillment-overrides=no',
      'name=orders-worker env=prod fulfillment-subscriptions=1 fulfillment-overrides=yes',
      'name=fulfillment env=prod fulfillment-subscriptions=1 fulfillment-overrides=yes',
      'name=notifications env=prod fulfillment-subscriptions=1 fulfillment-overrides=yes',
    ]);
    expect(unchanged('copilot/fulfillment/manifest.yml')).toBe(true);
    expect(unchanged('copilot/fulfillment/overrides/cfn.patches.yml')).toBe(true);
  });

  it('deploys everything as it is once that topic exists, so running it again never drops a subscription', () => {
    const { result, deploys } = run({ topicExists: true });
    expect(result.status, result.stderr).toBe(0);
    expect(deploys.map((line) => line.split(' ')[0])).toEqual(['name=catalog', 'name=checkout', 'name=orders', 'name=orders-worker', 'name=fulfillment', 'name=notifications']);
    expect(deploys.every((line) => line.endsWith('fulfillment-subscriptions=1 fulfillment-overrides=yes'))).toBe(true);
  });

  it('stops at a failed deployment and puts fulfillment’s manifest and overrides back', () => {
    const { result, deploys, unchanged } = run({ topicExists: false, failOn: 'fulfillment' });
    expect(result.status).not.toBe(0);
    expect(deploys.at(-1)).toBe('name=fulfillment env=prod fulfillment-subscriptions=0 fulfillment-overrides=no');
    expect(unchanged('copilot/fulfillment/manifest.yml')).toBe(true);
    expect(unchanged('copilot/fulfillment/overrides/cfn.patches.yml')).toBe(true);
  });

  it('asks for the environment and the domain before deploying anything', () => {
    const noEnvironment = spawnSync('bash', [join(DEPLOY_DIR, 'first-deploy.sh')], { encoding: 'utf8' });
    expect(noEnvironment.status).not.toBe(0);
    expect(noEnvironment.stderr).toContain('usage: first-deploy.sh <environment>');
    const { SECURECART_DOMAIN: _, ...withoutDomain } = process.env;
    const noDomain = spawnSync('bash', [join(DEPLOY_DIR, 'first-deploy.sh'), 'prod'], { env: withoutDomain, encoding: 'utf8' });
    expect(noDomain.status).not.toBe(0);
    expect(noDomain.stderr).toContain('set SECURECART_DOMAIN');
  });
});

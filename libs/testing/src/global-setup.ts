/** vitest globalSetup of the integration project: one set of infrastructure per run, handed to every test file. */
import type { TestProject } from 'vitest/node';
import { setUpInfra, type Infra } from './infra.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    infra: Infra;
  }
}

export default async function setup(project: TestProject) {
  const { infra, tearDown } = await setUpInfra();
  process.stdout.write(`integration infrastructure (${infra.source}): ${infra.databaseUrl.replace(/\/\/[^@]*@/, '//')} + replica, ${infra.redisUrl}, SNS/SQS ${infra.sqsEndpoint}\n`);
  project.provide('infra', infra);
  return tearDown;
}

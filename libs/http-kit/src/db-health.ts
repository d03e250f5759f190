/**
 * What every service on Postgres reports the same way: readiness of its primary, and where its reads went
 * (`db_reads{target}`) and the replica's lag (`db_replica_lag_ms`), from its replica router.
 */
import { sql } from 'drizzle-orm';
import { Gauge, type Registry } from 'prom-client';
import type { ReplicaRouter } from '@securecart/db';
import type { ReadinessCheck } from './health.ts';

export function primaryReadiness(router: ReplicaRouter): ReadinessCheck {
  return async () => {
    await router.primary.execute(sql`select 1`);
  };
}

export function registerReadRoutingMetrics(registry: Registry, router: ReplicaRouter): void {
  new Gauge({
    name: 'db_replica_lag_ms',
    help: 'Replica lag seen by the last health check (-1 when unknown)',
    registers: [registry],
    collect() {
      this.set(router.replicaState.lagMs ?? -1);
    },
  });
  new Gauge({
    name: 'db_reads',
    help: 'Reads by where they were served',
    labelNames: ['target'],
    registers: [registry],
    collect() {
      const s = router.stats;
      this.set({ target: 'replica' }, s.replicaReads);
      this.set({ target: 'primary' }, s.primaryReads);
      this.set({ target: 'miss_retry' }, s.missRetries);
      this.set({ target: 'replica_failure' }, s.replicaFailures);
    },
  });
}

/** The OpenAPI document of an app that has not started: for generators and staleness tests. */
export async function openApiDocument(app: { ready(): PromiseLike<unknown>; swagger(): object; close(): PromiseLike<unknown> }): Promise<object> {
  await app.ready();
  const spec = app.swagger();
  await app.close();
  return spec;
}

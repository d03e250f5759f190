/**
 * The orders service's OpenAPI document, built from the route schemas without any connection, for
 * scripts/generate-openapi.ts (which writes docs/openapi/orders.json) and the test that keeps that file current.
 */
import type { ReplicaRouter } from '@securecart/db';
import { openApiDocument } from '@securecart/http-kit';
import { buildOrdersApp } from './app.ts';

export async function ordersOpenApi(): Promise<object> {
  const app = await buildOrdersApp({
    // Never called: building the document runs no handler, no readiness check and no metrics collection.
    db: {} as ReplicaRouter,
    verifier: { verify: () => Promise.reject(new Error('not used')) },
    logger: false,
  });
  return openApiDocument(app);
}

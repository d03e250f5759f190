/**
 * The catalog's OpenAPI document, built from the route schemas without any connection, for
 * scripts/generate-openapi.ts (which writes docs/openapi/catalog.json) and the test that keeps that file current.
 */
import { Cache, MemoryStore } from '@securecart/cache';
import type { ReplicaRouter } from '@securecart/db';
import { openApiDocument } from '@securecart/http-kit';
import { buildCatalogApp } from './app.ts';

export async function catalogOpenApi(): Promise<object> {
  const app = await buildCatalogApp(
    {
      // Never called: building the document runs no handler, no readiness check and no metrics collection.
      db: {} as ReplicaRouter,
      cache: new Cache({ store: new MemoryStore(), namespace: 'openapi' }),
      verifier: { verify: () => Promise.reject(new Error('not used')) },
      logger: false,
    },
  );
  return openApiDocument(app);
}

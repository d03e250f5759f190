/** Checkout's OpenAPI document from its route schemas, without connections (see scripts/generate-openapi.ts). */
import type { Redis } from 'ioredis';
import type { SnsPublisher } from '@securecart/messaging';
import { openApiDocument } from '@securecart/http-kit';
import { buildCheckoutApp } from './app.ts';

export async function checkoutOpenApi(): Promise<object> {
  const app = await buildCheckoutApp({
    // Never called: building the document runs no handler and no readiness check.
    redis: {} as Redis,
    publisher: {} as SnsPublisher,
    topicArn: 'arn:aws:sns:us-east-1:000000000000:checkout-events',
    catalogUrl: 'http://catalog.internal',
    verifier: { verify: () => Promise.reject(new Error('not used')) },
    logger: false,
  });
  return openApiDocument(app);
}

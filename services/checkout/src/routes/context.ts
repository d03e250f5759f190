import type { AwsClients, SnsPublisher } from '@securecart/messaging';
import type { CartStore } from '../cart-store.ts';
import type { CatalogClient } from '../catalog-client.ts';
import type { IdempotencyStore } from '../idempotency-store.ts';

/** What checkout's route plugins are given. */
export interface CheckoutRouteContext {
  carts: CartStore;
  idempotency: IdempotencyStore;
  catalog: CatalogClient;
  publisher: SnsPublisher;
  /** ARN of the checkout-events topic */
  topicArn: string;
  clients?: AwsClients;
}

export const MAX_CART_LINES = 50;

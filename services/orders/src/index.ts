export * from './app.ts';
export * from './config.ts';
export * from './db/migrations.ts';
export { orderSubmittedBatchHandler, orderSubmittedHandler } from './handlers/order-submitted.handler.ts';
export { fulfillmentUpdateHandlers } from './handlers/fulfillment-updates.ts';
export { InProcessOrderStatusFeed, RedisOrderStatusFeed, type OrderStatusChange, type OrderStatusFeed } from './status-feed.ts';
export { startOrdersServer } from './server.ts';
export { startOrdersWorker, type OrdersWorker } from './worker.ts';
export { ORDERS_SCHEMA } from './db/schema.ts';

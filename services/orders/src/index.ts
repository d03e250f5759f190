export * from './app.ts';
export * from './config.ts';
export * from './db/migrations.ts';
export { orderSubmittedHandler } from './handlers/order-submitted.handler.ts';
export { startOrdersServer } from './server.ts';
export { startOrdersWorker, type OrdersWorker } from './worker.ts';
export { ORDERS_SCHEMA } from './db/schema.ts';

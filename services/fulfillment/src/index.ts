export * from './config.ts';
export * from './db/migrations.ts';
export { FULFILLMENT_SCHEMA } from './db/schema.ts';
export { fulfillmentHandlers } from './handlers/index.ts';
export { newSagaStats, type SagaDeps } from './saga/run-saga.ts';
export { StuckSagaResumer } from './saga/stuck-sagas.ts';
export { sagaDepsFrom, startFulfillmentWorker, type FulfillmentWorker } from './worker.ts';
export { SimulatedPaymentGateway, TEST_TOKENS } from './adapters/simulated-payment-gateway.ts';
export { SimulatedCarrier, UNDELIVERABLE_POSTAL_CODE, CARRIER_UNAVAILABLE_POSTAL_CODE } from './adapters/simulated-carrier.ts';

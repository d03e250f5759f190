/**
 * The contract: TypeBox schemas shared by request validation, TypeScript types, response serialization,
 * OpenAPI and (later) AsyncAPI. Nothing here does I/O.
 */
export * from './problem.ts';
export * from './pagination.ts';
export * from './catalog.ts';
export * from './events.ts';
export * from './checkout.ts';
export * from './orders.ts';

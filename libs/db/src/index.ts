export * from './types.ts';
export * from './pool.ts';
export * from './errors.ts';
export * from './replica-router.ts';
export * from './migrate.ts';
export * from './transaction.ts';
export * from './tls.ts';
export * from './prepared.ts';

export * from './cache.ts';
export * from './store.ts';
export * from './redis.ts';

export * from './rules.ts';
export * from './edge.ts';

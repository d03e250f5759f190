export * from './tracing.ts';
export * from './traceparent.ts';

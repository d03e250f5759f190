export * from './infra.ts';
export * from './wait-for.ts';
export * from './tcp-proxy.ts';
export * from './idp.ts';
export * from './process.ts';
export * from './otlp-receiver.ts';

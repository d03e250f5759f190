export * from './app.ts';
export * from './config.ts';
export { startCheckoutServer } from './server.ts';

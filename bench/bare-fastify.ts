/**
 * The benchmark's baseline: Fastify with nothing on it, answering GET / with {hello:'world'}. What this process
 * does per request is the floor every service built on Fastify pays on this machine.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/', async () => ({ hello: 'world' }));
await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
console.log('listening');

/**
 * Public GETs are answered from a cached, already serialized body with its ETag: a hit costs a Map lookup and a
 * write, and a client or CDN holding the same ETag gets a 304 without a body.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { etagOf, matchesEtag } from '../domain/product.ts';

export interface CachedJson {
  body: string;
  etag: string;
}

export const PUBLIC_CACHE_CONTROL = 'public, max-age=10, stale-while-revalidate=30';

/** Serializes with the route's own 200 response schema, so nothing leaves that the contract does not name. */
export function cachedJson(reply: FastifyReply, data: object): CachedJson {
  const body = reply.serializeInput(data as Record<string, unknown>, '200') as string;
  return { body, etag: etagOf(body) };
}

export function sendCachedJson(request: FastifyRequest, reply: FastifyReply, entry: CachedJson): FastifyReply {
  reply.header('etag', entry.etag).header('cache-control', PUBLIC_CACHE_CONTROL);
  if (matchesEtag(request.headers['if-none-match'], entry.etag)) return reply.code(304).send();
  return reply.type('application/json; charset=utf-8').send(entry.body);
}

/**
 * Maps every error to an RFC 9457 problem. Clients never see a stack trace; a 500 is logged with one.
 * A database that does not answer is a 503 with Retry-After (the primary is down: retry later), not a 500.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FieldError, Problem } from '@securecart/contracts';
import { isConnectionError } from '@securecart/db';
import { ProblemError, serviceUnavailable } from './errors.ts';

interface AjvLikeError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

export function fieldErrors(context: string, validation: AjvLikeError[]): FieldError[] {
  return validation.map((e) => {
    if (e.keyword === 'required') {
      return { in: context, path: `${e.instancePath}/${String(e.params.missingProperty)}`, message: 'is required' };
    }
    if (e.keyword === 'additionalProperties') {
      return { in: context, path: `${e.instancePath}/${String(e.params.additionalProperty)}`, message: 'is not allowed' };
    }
    return { in: context, path: e.instancePath || '/', message: e.message ?? e.keyword };
  });
}

export function toProblem(error: unknown): ProblemError {
  if (error instanceof ProblemError) return error;
  const e = error as FastifyError & { validation?: AjvLikeError[]; validationContext?: string };
  if (e.validation) {
    const context = e.validationContext ?? 'body';
    return new ProblemError(400, 'validation', 'Invalid request', `The request ${context} is invalid`, {
      errors: fieldErrors(context, e.validation),
    });
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ProblemError(413, 'payload-too-large', 'Payload too large', 'The request body exceeds the limit');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ProblemError(415, 'unsupported-media-type', 'Unsupported media type', 'Send application/json');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ProblemError(400, 'malformed-json', 'Malformed JSON', 'The request body is not valid JSON');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ProblemError(400, 'bad-request', 'Bad request', 'Content-Length does not match the body');
    case 'FST_ERR_BAD_URL':
      return new ProblemError(400, 'bad-request', 'Bad request', 'The URL is not valid: a percent-encoding is malformed');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ProblemError(414, 'uri-too-long', 'URI too long', 'A path parameter is longer than any this API accepts');
  }
  if (e instanceof SyntaxError) {
    return new ProblemError(400, 'malformed-json', 'Malformed JSON', 'The request body is not valid JSON');
  }
  if (isConnectionError(error)) return serviceUnavailable('The database is unavailable; retry shortly', 5);
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    return new ProblemError(status, 'bad-request', 'Bad request', e.message);
  }
  return new ProblemError(500, 'internal', 'Internal server error', 'An unexpected error occurred');
}

export function problemBody(problem: ProblemError, request: FastifyRequest): Problem {
  return {
    type: problem.type,
    title: problem.title,
    status: problem.status,
    detail: problem.detail,
    instance: request.url.split('?')[0],
    requestId: request.id,
    ...(problem.errors ? { errors: problem.errors } : {}),
  };
}

export function sendProblem(reply: FastifyReply, problem: ProblemError): FastifyReply {
  for (const [name, value] of Object.entries(problem.headers)) reply.header(name, value);
  return reply
    .code(problem.status)
    .type('application/problem+json')
    .serializer(JSON.stringify)
    .send(problemBody(problem, reply.request));
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const problem = toProblem(error);
    if (problem.status === 503) {
      // a dependency down or busy: a designed answer with Retry-After, not a fault here; its cause is logged
      request.log.warn({ err: error, status: 503 }, problem.detail);
    } else if (problem.status >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else if (problem.status !== 404) {
      request.log.info({ status: problem.status, problem: problem.type }, problem.detail);
    }
    return sendProblem(reply, problem);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new ProblemError(404, 'not-found', 'Not found', `No route for ${request.method} ${request.url.split('?')[0]}`)),
  );
}

/**
 * Fastify's clientErrorHandler: what Node's HTTP parser refuses before any route exists (headers over 16 KiB, a
 * malformed request line, a request that took too long to arrive) is answered with a problem too, on the raw socket,
 * which is then closed (Fastify's own answer is plain JSON). A reset connection gets nothing: nobody is listening.
 */
export function clientErrorProblem(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const problem =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new ProblemError(431, 'headers-too-large', 'Request headers too large', 'The request headers exceed 16 KiB')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new ProblemError(408, 'request-timeout', 'Request timeout', 'The request did not arrive in time')
        : new ProblemError(400, 'bad-request', 'Bad request', 'The request is not valid HTTP');
  if (socket.writable) {
    const body = JSON.stringify({ type: problem.type, title: problem.title, status: problem.status, detail: problem.detail });
    socket.write(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\nContent-Type: application/problem+json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

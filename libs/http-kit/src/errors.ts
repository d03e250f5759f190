/**
 * Errors are values with a type. Domain and route code throws these; one error handler turns them into
 * RFC 9457 problem responses. `type` URIs are stable identifiers documented in docs/problems.md.
 */
import type { FieldError } from '@securecart/contracts';

const TYPE_BASE = 'https://securecart.dev/problems/';

export class ProblemError extends Error {
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    slug: string,
    title: string,
    detail?: string,
    options: { errors?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(detail ?? title);
    this.name = 'ProblemError';
    this.status = status;
    this.type = `${TYPE_BASE}${slug}`;
    this.title = title;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
  }

  get detail(): string {
    return this.message;
  }
}

export const badRequest = (detail: string, errors?: FieldError[]) =>
  new ProblemError(400, 'bad-request', 'Bad request', detail, errors ? { errors } : {});
export const unauthorized = (detail = 'A valid bearer token is required') =>
  new ProblemError(401, 'unauthorized', 'Unauthorized', detail, {
    headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
  });
export const forbidden = (detail = 'This route is for administrators') =>
  new ProblemError(403, 'forbidden', 'Forbidden', detail);
export const notFound = (detail = 'No such resource') => new ProblemError(404, 'not-found', 'Not found', detail);
export const conflict = (detail: string, slug = 'conflict') => new ProblemError(409, slug, 'Conflict', detail);
export const unprocessable = (detail: string, slug = 'unprocessable') =>
  new ProblemError(422, slug, 'Unprocessable request', detail);
export const tooManyRequests = (retryAfterSeconds: number) =>
  new ProblemError(429, 'rate-limited', 'Too many requests', `Retry after ${retryAfterSeconds} s`, {
    headers: { 'retry-after': String(retryAfterSeconds) },
  });
export const serviceUnavailable = (detail: string, retryAfterSeconds = 5) =>
  new ProblemError(503, 'unavailable', 'Service unavailable', detail, {
    headers: { 'retry-after': String(retryAfterSeconds) },
  });

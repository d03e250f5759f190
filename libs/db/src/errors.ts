/** The unique violation (SQLSTATE 23505) behind a database error, drizzle's wrapper or the driver's own; undefined when
 * it is something else. Its `constraint` names the key that collided. */
export function uniqueViolationOf(error: unknown): { constraint?: string } | undefined {
  const e = error as { code?: string; constraint?: string; cause?: { code?: string; constraint?: string } } | null;
  if (!e || typeof e !== 'object') return undefined;
  return e.code === '23505' ? e : e.cause?.code === '23505' ? e.cause : undefined;
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH']);

/** True when a database error means "the server is not there" rather than "the query is wrong". */
export function isConnectionError(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; cause?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  const code = typeof e.code === 'string' ? e.code : '';
  if (CONNECTION_CODES.has(code) || code.startsWith('08') || code.startsWith('57P')) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  if (/Connection terminated|timeout exceeded when trying to connect|Query read timeout|connection error|not queryable/i.test(message)) {
    return true;
  }
  return e.cause ? isConnectionError(e.cause) : false;
}

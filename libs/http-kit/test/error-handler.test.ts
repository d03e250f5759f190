import { describe, expect, it } from 'vitest';
import { fieldErrors, toProblem, ProblemError } from '../src/index.ts';

describe('toProblem', () => {
  it('keeps a ProblemError as it is', () => {
    const p = new ProblemError(409, 'conflict', 'Conflict', 'taken');
    expect(toProblem(p)).toBe(p);
  });

  it('turns validation errors into 400 with field paths', () => {
    const error = Object.assign(new Error('bad'), {
      validationContext: 'body',
      validation: [
        { instancePath: '', keyword: 'required', params: { missingProperty: 'name' } },
        { instancePath: '', keyword: 'additionalProperties', params: { additionalProperty: 'colour' } },
        { instancePath: '/address/zip', keyword: 'pattern', params: {}, message: 'must match pattern' },
      ],
    });
    const problem = toProblem(error);
    expect(problem.status).toBe(400);
    expect(problem.errors).toEqual([
      { in: 'body', path: '/name', message: 'is required' },
      { in: 'body', path: '/colour', message: 'is not allowed' },
      { in: 'body', path: '/address/zip', message: 'must match pattern' },
    ]);
  });

  it.each([
    ['FST_ERR_CTP_BODY_TOO_LARGE', 413],
    ['FST_ERR_CTP_INVALID_MEDIA_TYPE', 415],
    ['FST_ERR_CTP_INVALID_JSON_BODY', 400],
    ['FST_ERR_BAD_URL', 400],
    ['FST_ERR_MAX_PARAM_LENGTH', 414],
  ])('maps %s to %i', (code, status) => {
    expect(toProblem(Object.assign(new Error('x'), { code })).status).toBe(status);
  });

  it('maps a database that does not answer to 503 with Retry-After', () => {
    const problem = toProblem(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    expect(problem.status).toBe(503);
    expect(problem.headers['retry-after']).toBe('5');
  });

  it('hides the message of an unexpected error', () => {
    const problem = toProblem(new Error('secret internals'));
    expect(problem.status).toBe(500);
    expect(problem.detail).not.toContain('secret');
  });

  it('reports a missing property at its own path', () => {
    expect(fieldErrors('querystring', [{ instancePath: '/a', keyword: 'required', params: { missingProperty: 'b' } }])).toEqual([
      { in: 'querystring', path: '/a/b', message: 'is required' },
    ]);
  });
});

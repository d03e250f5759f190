/**
 * Two validators: bodies are validated strictly (no type coercion, unknown fields rejected because every body
 * schema says additionalProperties: false, nothing silently removed); query strings, params and headers arrive
 * as text, so they are coerced to the schema's types. Beyond any schema, a JSON body may not hold a string that a
 * database cannot keep (findUnstorableString).
 */
import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import { ProblemError } from './errors.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function makeAjv(options: Options): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    removeAdditional: false,
    useDefaults: true,
    strict: false,
    ...options,
  });
  addFormats(ajv);
  // ajv-formats also takes `urn:uuid:<uuid>`, which Postgres refuses as a uuid (a 500): an id is the bare UUID
  ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
  return ajv;
}

export function installValidation(app: FastifyInstance): void {
  const bodies = makeAjv({ coerceTypes: false });
  const text = makeAjv({ coerceTypes: 'array' });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'body' ? bodies.compile(schema) : text.compile(schema),
  );
}

/** a surrogate that is not half of a pair */
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * The JSON pointer of a string in a parsed body that no database here can keep, if there is one: U+0000 (Postgres
 * refuses it in text and in jsonb, so the request would fail as a 500, or an accepted checkout would fail at intake)
 * or an unpaired surrogate (not Unicode: stored as U+FFFD, or refused inside jsonb). Iterative, since bodies may nest
 * deeply.
 */
export function findUnstorableString(value: unknown): string | undefined {
  const stack: [unknown, string][] = [[value, '']];
  while (stack.length > 0) {
    const [item, path] = stack.pop()!;
    if (typeof item === 'string') {
      if (item.includes('\u0000') || UNPAIRED_SURROGATE.test(item)) return path || '/';
    } else if (Array.isArray(item)) {
      item.forEach((element, i) => stack.push([element, `${path}/${i}`]));
    } else if (item !== null && typeof item === 'object') {
      for (const [key, element] of Object.entries(item)) stack.push([element, `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`]);
    }
  }
  return undefined;
}

export function unstorableStringProblem(path: string): ProblemError {
  return new ProblemError(400, 'validation', 'Invalid request', 'The request body is invalid', {
    errors: [{ in: 'body', path, message: 'must not contain U+0000 or an unpaired surrogate' }],
  });
}

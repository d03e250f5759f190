/**
 * Two validators: bodies are validated strictly (no type coercion, unknown fields rejected because every body
 * schema says additionalProperties: false, nothing silently removed); query strings, params and headers arrive
 * as text, so they are coerced to the schema's types.
 */
import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';

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
  return ajv;
}

export function installValidation(app: FastifyInstance): void {
  const bodies = makeAjv({ coerceTypes: false });
  const text = makeAjv({ coerceTypes: 'array' });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'body' ? bodies.compile(schema) : text.compile(schema),
  );
}

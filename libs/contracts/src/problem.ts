import { Type, type Static } from 'typebox';

/** RFC 9457 problem details, with `errors[]` carrying field paths for validation failures. */
export const FieldError = Type.Object({
  in: Type.String({ description: 'body, querystring, params or headers' }),
  path: Type.String({ description: 'JSON pointer to the offending field, e.g. /shippingAddress/zip' }),
  message: Type.String(),
});

export const Problem = Type.Object(
  {
    type: Type.String({ description: 'URI identifying the problem type' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    requestId: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(FieldError)),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details (application/problem+json)' },
);
export type Problem = Static<typeof Problem>;
export type FieldError = Static<typeof FieldError>;

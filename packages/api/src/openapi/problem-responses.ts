import { z } from 'zod';
import type { FieldError } from '../problem';
import type { ErrorStatus, Example, HeaderSpec } from './operation-spec';
import type { SchemaComponents } from './schema-components';

/** One bad field of a request (problem.ts's FieldError). */
export const fieldErrorSchema = z.object({
  field: z.string().describe('Dotted path in the body (`to.email`), or a header or parameter name'),
  in: z.enum(['body', 'header', 'path', 'query']).optional(),
  message: z.string(),
}) satisfies z.ZodType<FieldError>;

/** An RFC 9457 problem document, as problem.ts renders every error. */
export const problemSchema = z
  .object({
    type: z.url(),
    title: z.string(),
    status: z.int().min(400).max(599),
    detail: z.string().optional(),
    errors: z.array(fieldErrorSchema).optional(),
  })
  .describe('application/problem+json (RFC 9457); `errors` names each bad field of a 422.');

const TYPE = 'https://herald.dev/problems/';

const problem = (
  status: number,
  type: string,
  title: string,
  detail: string,
  errors?: FieldError[],
) => ({ type: `${TYPE}${type}`, title, status, detail, ...(errors ? { errors } : {}) });

interface ProblemResponse {
  name: string;
  description: string;
  example: Example;
  headers?: Record<string, HeaderSpec>;
}

const challenge: HeaderSpec = {
  description: 'The bearer challenge (RFC 6750), with `error="insufficient_scope"` on a 403.',
  schema: { type: 'string', examples: ['Bearer realm="herald"'] },
};

/** Every problem response the API gives, as `components.responses` entries. */
export const PROBLEM_RESPONSES: Record<ErrorStatus, ProblemResponse> = {
  400: {
    name: 'MalformedRequest',
    description: 'The body is not valid JSON.',
    example: {
      summary: 'Malformed JSON',
      value: problem(400, 'malformed-request', 'Malformed JSON', 'The body is not valid JSON.'),
    },
  },
  401: {
    name: 'Unauthorized',
    description: 'No bearer token, or one that is expired, badly signed or of another issuer.',
    headers: { 'WWW-Authenticate': challenge },
    example: {
      summary: 'Missing token',
      value: problem(401, 'unauthorized', 'Unauthorized', 'A bearer token is required.'),
    },
  },
  403: {
    name: 'Forbidden',
    description: 'The token is valid but lacks the scope this operation needs.',
    headers: { 'WWW-Authenticate': challenge },
    example: {
      summary: 'Missing scope',
      value: problem(403, 'forbidden', 'Forbidden', 'This needs the scope notifications:write.'),
    },
  },
  404: {
    name: 'NotFound',
    description: 'Nothing with this id or key.',
    example: {
      summary: 'Unknown notification',
      value: problem(
        404,
        'not-found',
        'Not found',
        'No notification 0190f5a2-7c3e-7b1a-9d4e-2f6a8b0c1d2e.',
      ),
    },
  },
  409: {
    name: 'Conflict',
    description: 'The request conflicts with the current state of the resource.',
    example: {
      summary: 'Idempotency key reused',
      value: problem(
        409,
        'conflict',
        'Idempotency key reused',
        'This Idempotency-Key was used with a different body.',
      ),
    },
  },
  413: {
    name: 'PayloadTooLarge',
    description: 'The body is over 1 MiB (4 MiB for POST /v1/campaigns).',
    example: {
      summary: 'Body too large',
      value: problem(
        413,
        'payload-too-large',
        'Payload too large',
        'The body is larger than this endpoint accepts (1 MiB; 4 MiB for campaigns).',
      ),
    },
  },
  415: {
    name: 'UnsupportedMediaType',
    description: 'The body is not sent as application/json.',
    example: {
      summary: 'Form-encoded body',
      value: problem(
        415,
        'unsupported-media-type',
        'Unsupported media type',
        'Send the body as application/json.',
      ),
    },
  },
  422: {
    name: 'ValidationFailed',
    description: 'The request has invalid fields; `errors` names each one.',
    example: {
      summary: 'Two bad fields',
      value: problem(
        422,
        'validation-failed',
        'Validation failed',
        'The request has invalid fields.',
        [
          { field: 'to.email', in: 'body', message: 'Invalid email address' },
          { field: 'channels', in: 'body', message: 'Too small: expected array to have >=1 items' },
        ],
      ),
    },
  },
  429: {
    name: 'TooManyRequests',
    description:
      "The caller's allowance of notifications per minute (API_RATE_LIMIT_PER_MINUTE) is spent: nothing was accepted.",
    headers: {
      'Retry-After': {
        description: 'Seconds until the allowance renews.',
        schema: { type: 'integer', examples: [12] },
      },
    },
    example: {
      summary: 'Allowance spent',
      value: problem(
        429,
        'too-many-requests',
        'Too many notifications',
        'A caller may send 6000 notifications a minute; retry in 12 s.',
      ),
    },
  },
  503: {
    name: 'ServiceUnavailable',
    description: 'Postgres is unreachable: nothing was accepted or changed. Retry later.',
    headers: {
      'Retry-After': {
        description: 'Seconds to wait.',
        schema: { type: 'integer', examples: [5] },
      },
    },
    example: {
      summary: 'Database down',
      value: problem(
        503,
        'unavailable',
        'Service unavailable',
        'The database is unreachable; nothing was accepted. Retry later.',
      ),
    },
  },
};

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/** `components.responses`: one problem response per status, all on the Problem schema. */
export function problemResponseComponents(components: SchemaComponents) {
  const schema = components.ref('Problem', problemSchema, 'output');
  return Object.fromEntries(
    Object.values(PROBLEM_RESPONSES).map((r) => [
      r.name,
      {
        description: r.description,
        ...(r.headers ? { headers: r.headers } : {}),
        content: { [PROBLEM_MEDIA_TYPE]: { schema, examples: { [r.name]: r.example } } },
      },
    ]),
  );
}

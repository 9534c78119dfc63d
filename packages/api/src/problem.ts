import type { ErrorRequestHandler, Response } from 'express';
import { ZodError, type core } from 'zod';

type ZodIssue = core.$ZodIssue;
import type { Logger } from '@herald/core';

/** One bad field of a request, as listed in a problem's `errors`. */
export interface FieldError {
  /** Dotted path in the body (`to.email`), or a header/parameter name. */
  field: string;
  in?: 'body' | 'header' | 'path' | 'query';
  message: string;
}

/**
 * An RFC 9457 problem. Throw it from a handler; the error handler renders it
 * as application/problem+json.
 */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly extras: {
      errors?: FieldError[];
      headers?: Record<string, string>;
      type?: string;
    } = {},
  ) {
    super(detail ?? title);
    this.name = 'ProblemError';
  }
}

const TYPE_BASE = 'https://herald.dev/problems/';

const typeFor = (status: number): string =>
  ({
    400: 'malformed-request',
    401: 'unauthorized',
    403: 'forbidden',
    404: 'not-found',
    409: 'conflict',
    413: 'payload-too-large',
    415: 'unsupported-media-type',
    422: 'validation-failed',
    429: 'too-many-requests',
    503: 'unavailable',
  })[status] ?? (status >= 500 ? 'internal-error' : 'request-error');

/** The RFC 9457 document of a problem. */
export function problemBody(problem: ProblemError) {
  return {
    type: problem.extras.type ?? `${TYPE_BASE}${typeFor(problem.status)}`,
    title: problem.title,
    status: problem.status,
    ...(problem.detail !== undefined ? { detail: problem.detail } : {}),
    ...(problem.extras.errors ? { errors: problem.extras.errors } : {}),
  };
}

export function sendProblem(res: Response, problem: ProblemError): void {
  for (const [name, value] of Object.entries(problem.extras.headers ?? {}))
    res.setHeader(name, value);
  res.status(problem.status).type('application/problem+json').send(problemBody(problem));
}

export function validationProblem(
  errors: FieldError[],
  detail = 'The request has invalid fields.',
): ProblemError {
  return new ProblemError(422, 'Validation failed', detail, { errors });
}

export function fieldErrorsFromZod(
  error: ZodError,
  location: FieldError['in'] = 'body',
  prefix: (string | number)[] = [],
): FieldError[] {
  const name = (path: readonly PropertyKey[]) =>
    [...prefix, ...path].map(String).join('.') || '(body)';
  const describe = (issue: ZodIssue, at: readonly PropertyKey[]): FieldError[] => {
    const path = [...at, ...issue.path];
    // A strict object reports its unknown keys in one issue at the object's path: name each key.
    if (issue.code === 'unrecognized_keys')
      return issue.keys.map((key) => ({
        field: name([...path, key]),
        in: location,
        message: 'unknown field',
      }));
    const branch = issue.code === 'invalid_union' ? intendedBranch(issue.errors) : undefined;
    if (branch) return branch.flatMap((inner) => describe(inner, path));
    return [{ field: name(path), in: location, message: issue.message }];
  };
  return error.issues.flatMap((issue) => describe(issue, []));
}

/**
 * The alternative of a union the input was evidently meant for: the only one
 * with no key it does not know and of the right type (so `{"all": false}`
 * is told `all` must be true, not that it matched nothing). Undefined when that is
 * not clear: the union's own message then stands.
 */
function intendedBranch(branches: ZodIssue[][]): ZodIssue[] | undefined {
  const plausible = branches.filter((issues) =>
    issues.every(
      (i) => i.code !== 'unrecognized_keys' && !(i.code === 'invalid_type' && i.path.length === 0),
    ),
  );
  return plausible.length === 1 ? plausible[0] : undefined;
}

/** Connection-level failures of Postgres: the request could not be made durable. */
const DATABASE_UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '53300', // too_many_connections
  // Prisma's codes for the same (its errors carry no pg code at the top level).
  'P1001', // can't reach database server
  'P1002', // database server reached but timed out
  'P1008', // operations timed out
  'P1017', // server has closed the connection
  'P2024', // timed out fetching a connection from the pool
  'P2037', // too many database connections opened
]);

function isDatabaseUnavailable(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; cause?: unknown; message?: unknown } | undefined, depth = 0;
    e && depth < 5;
    e = e.cause as typeof e, depth++
  ) {
    if (typeof e.code === 'string' && DATABASE_UNAVAILABLE_CODES.has(e.code)) return true;
    // node-postgres raises pool and connection timeouts without a code.
    if (
      typeof e.message === 'string' &&
      /timeout exceeded when trying to connect|Connection terminated/i.test(e.message)
    )
      return true;
  }
  return false;
}

/**
 * Every error becomes a problem document; nothing reaches Express's default
 * HTML handler and nothing takes the process down.
 */
export function createErrorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (res.headersSent) return;
    const e = err as { type?: string; status?: number; expose?: boolean; message?: string };
    let problem: ProblemError;
    if (err instanceof ProblemError) problem = err;
    else if (err instanceof ZodError) problem = validationProblem(fieldErrorsFromZod(err));
    else if (e?.type === 'entity.too.large')
      problem = new ProblemError(
        413,
        'Payload too large',
        'The body is larger than this endpoint accepts (1 MiB; 4 MiB for campaigns).',
      );
    else if (e?.type === 'entity.parse.failed')
      problem = new ProblemError(400, 'Malformed JSON', 'The body is not valid JSON.');
    else if (e?.expose && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      problem = new ProblemError(e.status, e.message ?? 'Bad request');
    } else if ((err as { code?: unknown })?.code === '23503') {
      // A referenced row vanished between our read and our write (e.g. a recipient erased meanwhile).
      problem = new ProblemError(
        409,
        'Conflict',
        'Something this request refers to was deleted meanwhile; retry.',
      );
    } else if (isDatabaseUnavailable(err)) {
      log.error({ err, path: req.path }, 'database unavailable');
      problem = new ProblemError(
        503,
        'Service unavailable',
        'The database is unreachable; nothing was accepted. Retry later.',
        {
          headers: { 'Retry-After': '5' },
        },
      );
    } else {
      log.error({ err, path: req.path }, 'unhandled error');
      problem = new ProblemError(500, 'Internal error', 'An unexpected error occurred.');
    }
    sendProblem(res, problem);
  };
}

import type { z } from 'zod';
import type { Scope } from '../auth';
import type { JsonSchema, SchemaComponents } from './schema-components';

/**
 * One operation of the API as the document describes it: a small table per
 * area (`notification-operations.ts`, …) that `buildOpenApiDocument` turns
 * into path items. Bodies and parameters are the zod schemas the routes
 * validate with; only responses have schemas written for the document.
 */

export type HttpMethod = 'get' | 'post' | 'put' | 'delete';

/** The problem responses an operation can give (components.responses). */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 503;

export interface Example {
  summary: string;
  description?: string;
  value: unknown;
}
export type Examples = Record<string, Example>;

/** A JSON body (request or response) with a component of its own. */
export interface JsonBody {
  component: string;
  schema: z.ZodType;
  examples: Examples;
  /** Adjusts the converted schema, e.g. to say what an `unknown` holds. */
  patch?: (json: JsonSchema, components: SchemaComponents) => void;
}

export interface HeaderSpec {
  description: string;
  schema: JsonSchema;
}

export interface ResponseSpec {
  description: string;
  json?: JsonBody;
  /** A body with a media type of its own (HTML pages, Prometheus text), described by hand. */
  other?: { mediaType: string; schema: JsonSchema; example: unknown };
  headers?: Record<string, HeaderSpec>;
}

/** Bearer JWT with one of these scopes (`admin` passes every check), HTTP Basic, or nothing. */
export type Auth = { bearer: readonly Scope[] } | 'basic' | 'public';

export interface ParameterSpec {
  schema: z.ZodType;
  description: string;
  example: unknown;
}

export interface OperationSpec {
  method: HttpMethod;
  /** The path as express routes it (`/v1/notifications/:id`). */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  auth: Auth;
  pathParams?: Record<string, ParameterSpec>;
  /** The query schema the route parses, and an example value per parameter. */
  query?: { schema: z.ZodObject; examples: Record<string, unknown> };
  headers?: Record<string, ParameterSpec>;
  body?: JsonBody;
  responses: Record<number, ResponseSpec>;
  /** Problem responses: `true`, or what the status means for this operation. */
  errors: Partial<Record<ErrorStatus, true | string>>;
}

/** The problems of every bearer-authenticated operation. */
export const BEARER_ERRORS = { 401: true, 403: true, 503: true } as const;

/** The problems of every operation that reads a JSON body. */
export const JSON_BODY_ERRORS = { 400: true, 413: true, 415: true, 422: true } as const;

/** `/v1/notifications/:id` → `/v1/notifications/{id}`. */
export const openApiPath = (expressPath: string) =>
  expressPath.replace(/:([A-Za-z_]\w*)/g, (_match, name: string) => `{${name}}`);

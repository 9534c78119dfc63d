import type { ErrorStatus, JsonBody, OperationSpec, ResponseSpec } from './operation-spec';
import { PROBLEM_RESPONSES } from './problem-responses';
import type { JsonSchema, SchemaComponents } from './schema-components';

/** The security schemes of `components.securitySchemes`. */
export const SECURITY_SCHEMES = {
  bearerAuth: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      'HS256 (JWT_SECRET) or RS256/ES256 (JWT_PUBLIC_KEY); `exp` required, `iss` herald and ' +
      '`aud` herald-api by default. Scopes are the space-separated `scope` claim; `admin` passes ' +
      'every check. `pnpm herald token --sub billing --scope "notifications:write"` mints one.',
  },
  adminBasic: {
    type: 'http',
    scheme: 'basic',
    description: 'The operator credentials ADMIN_USER / ADMIN_PASSWORD (Bull Board only).',
  },
} as const;

function jsonContent(body: JsonBody, components: SchemaComponents, side: 'input' | 'output') {
  const schema = components.ref(body.component, body.schema, side, (json) =>
    body.patch?.(json, components),
  );
  return { 'application/json': { schema, examples: body.examples } };
}

function response(spec: ResponseSpec, components: SchemaComponents) {
  return {
    description: spec.description,
    ...(spec.headers ? { headers: spec.headers } : {}),
    ...(spec.json ? { content: jsonContent(spec.json, components, 'output') } : {}),
    ...(spec.other
      ? {
          content: {
            [spec.other.mediaType]: { schema: spec.other.schema, example: spec.other.example },
          },
        }
      : {}),
  };
}

function parameters(spec: OperationSpec, components: SchemaComponents) {
  const owner = spec.operationId.replace(/^./, (c) => c.toUpperCase());
  const path = Object.entries(spec.pathParams ?? {}).map(([name, p]) => ({
    name,
    in: 'path',
    required: true,
    description: p.description,
    schema: components.inline(p.schema, 'input', owner),
    example: p.example,
  }));
  const headers = Object.entries(spec.headers ?? {}).map(([name, p]) => ({
    name,
    in: 'header',
    required: false,
    description: p.description,
    schema: components.inline(p.schema, 'input', owner),
    example: p.example,
  }));
  const query = spec.query ? components.inline(spec.query.schema, 'input', owner) : undefined;
  const required = new Set((query?.required as string[] | undefined) ?? []);
  const fields = Object.entries((query?.properties ?? {}) as Record<string, JsonSchema>);
  const queryParameters = fields.map(([name, schema]) => ({
    name,
    in: 'query',
    required: required.has(name),
    ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
    schema,
    // An object travels as name[key]=value (what the route reads back).
    ...(schema.type === 'object' ? { style: 'deepObject', explode: true } : {}),
    ...(spec.query!.examples[name] !== undefined ? { example: spec.query!.examples[name] } : {}),
  }));
  return [...path, ...queryParameters, ...headers];
}

function security(spec: OperationSpec) {
  if (spec.auth === 'public') return { security: [] };
  if (spec.auth === 'basic') return { security: [{ adminBasic: [] }] };
  return {
    security: [{ bearerAuth: [...spec.auth.bearer] }],
    'x-scopes': [...spec.auth.bearer],
  };
}

function scopeNote(spec: OperationSpec): string {
  if (spec.auth === 'public') return 'No authentication.';
  if (spec.auth === 'basic') return 'HTTP Basic with the operator credentials.';
  const scopes = spec.auth.bearer.map((s) => `\`${s}\``).join(' or ');
  return spec.auth.bearer.includes('admin')
    ? `Bearer token with scope ${scopes}.`
    : `Bearer token with scope ${scopes} (or \`admin\`).`;
}

/** One OpenAPI operation object from its spec; schemas go to `components`. */
export function buildOperation(spec: OperationSpec, components: SchemaComponents) {
  const params = parameters(spec, components);
  const responses: Record<string, unknown> = {};
  for (const [status, r] of Object.entries(spec.responses)) {
    responses[status] = response(r, components);
  }
  for (const [status, meaning] of Object.entries(spec.errors)) {
    const { name } = PROBLEM_RESPONSES[Number(status) as ErrorStatus];
    responses[status] = {
      $ref: `#/components/responses/${name}`,
      ...(typeof meaning === 'string' ? { description: meaning } : {}),
    };
  }
  return {
    operationId: spec.operationId,
    tags: [spec.tag],
    summary: spec.summary,
    description: [spec.description, scopeNote(spec)].filter(Boolean).join('\n\n'),
    ...security(spec),
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(spec.body
      ? { requestBody: { required: true, content: jsonContent(spec.body, components, 'input') } }
      : {}),
    responses,
  };
}

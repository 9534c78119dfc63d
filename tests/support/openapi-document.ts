import type { Harness } from '@herald/testkit';

/** Reading an OpenAPI document in tests: its operations, references, and the routes express serves. */

export type Json = Record<string, unknown>;
export interface Operation extends Json {
  operationId: string;
  parameters?: { name: string; in: string; required?: boolean; schema: Json; example?: unknown }[];
  requestBody?: { content: Record<string, { schema: Json; examples?: Record<string, Example> }> };
  responses: Record<string, Json>;
  'x-scopes'?: string[];
}
export interface Example {
  summary: string;
  value: unknown;
}
export interface Document extends Json {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Json>; responses: Record<string, Json> } & Json;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

/** Ajv holds the document's components as `$defs` of one schema with this id. */
export const SCHEMAS_ID = 'https://herald.test/openapi-components.json';
export const rebased = <T>(schema: T): T =>
  JSON.parse(
    JSON.stringify(schema).replace(/"#\/components\/schemas\//g, `"${SCHEMAS_ID}#/$defs/`),
  ) as T;

/** What an example and a live answer should share: statuses, channels, counts, reasons, not ids or times. */
const STABLE_KEYS = new Set([
  'status',
  'channel',
  'accepted',
  'rejected',
  'reason',
  'field',
  'message',
  'locale',
]);
export function stableParts(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stableParts);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key, v]) => STABLE_KEYS.has(key) || (typeof v === 'object' && v !== null))
      .map(([key, v]) => [key, stableParts(v)]),
  );
}

export function operationsOf(doc: Document) {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ path, method, op })),
  );
}

/** The JSON pointer `#/a/b` in `doc`, or undefined. */
export function resolvePointer(doc: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  return ref
    .slice(2)
    .split('/')
    .map((part) => decodeURIComponent(part).replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>(
      (node, key) => (typeof node === 'object' && node !== null ? (node as Json)[key] : undefined),
      doc,
    );
}

export function refsIn(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((item) => refsIn(item, found));
  else if (typeof node === 'object' && node !== null) {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') found.push(value);
      else refsIn(value, found);
    }
  }
  return found;
}

/**
 * `METHOD /path` of every route the express app serves, walking its router
 * stack (express 5: app.router.stack; a layer's mount path is its rawPath).
 * A whole express app mounted under a path (Bull Board) is opaque from here:
 * it counts as `MOUNT /path`.
 */
export function servedRoutes(app: Harness['app']): string[] {
  interface Layer {
    route?: { path: unknown; methods: Record<string, boolean> };
    handle?: { name?: string; stack?: Layer[] };
    rawPath?: unknown;
  }
  const routes: string[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods).filter((m) => m !== '_all')) {
          routes.push(`${method.toUpperCase()} ${prefix}${String(layer.route.path)}`);
        }
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack, prefix + mount);
      } else if (layer.handle?.name === 'mounted_app') {
        routes.push(`MOUNT ${prefix}${mount}`);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return routes;
}

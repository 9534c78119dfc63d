import { z } from 'zod';

/** A JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) as plain data. */
export type JsonSchema = { [keyword: string]: unknown };

/**
 * Which side of a zod schema to describe: `input` for what clients send
 * (defaults are optional, transforms show what they accept), `output` for
 * what the API answers (objects closed: `additionalProperties: false`).
 */
export type SchemaSide = 'input' | 'output';

export interface SchemaComponents {
  /** A `$ref` to component `name`, converted from `schema` the first time it is asked for. */
  ref(
    name: string,
    schema: z.ZodType,
    side: SchemaSide,
    patch?: (json: JsonSchema) => void,
  ): { $ref: string };
  /** `schema` converted in place; whatever it shares (JSON values, named parts) still goes to components. */
  inline(schema: z.ZodType, side: SchemaSide, owner?: string): JsonSchema;
  /** Every component so far, for `components.schemas`. */
  all(): Record<string, JsonSchema>;
}

const COMPONENTS = '#/components/schemas/';
const DEFS = '#/$defs/';

/** Every `$ref` in `node` rewritten by `to` (the rest copied as is). */
function mapRefs(node: unknown, to: (ref: string) => string): unknown {
  if (Array.isArray(node)) return node.map((item) => mapRefs(item, to));
  if (typeof node !== 'object' || node === null) return node;
  return Object.fromEntries(
    Object.entries(node).map(([key, value]) => [
      key,
      key === '$ref' && typeof value === 'string' ? to(value) : mapRefs(value, to),
    ]),
  );
}

/** A definition with its references to itself written as `#`, to compare shapes. */
const shapeOf = (def: unknown, defName: string) =>
  JSON.stringify(mapRefs(def, (ref) => (ref === `${DEFS}${defName}` ? '#' : ref)));

/** What `z.json()` converts to: every zod JSON value shares one `JsonValue` component. */
const JSON_VALUE_SHAPE = (() => {
  const { $schema: _dialect, ...json } = z.toJSONSchema(z.json(), { target: 'draft-2020-12' });
  return JSON.stringify(json);
})();

/**
 * Turns zod schemas into `components.schemas`: each conversion's `$defs`
 * (sub-schemas given a name in `shared`, recursive JSON values) is hoisted
 * into components, so every `$ref` of the document points at
 * `#/components/schemas/…`. Shared names are per side: the output side of a
 * schema can differ from its input side (closed objects, no defaults).
 */
export function createSchemaComponents(
  shared: Partial<Record<SchemaSide, ReadonlyArray<readonly [z.ZodType, string]>>> = {},
): SchemaComponents {
  const schemas: Record<string, JsonSchema> = {};
  const anonymous = new Map<string, string>();
  const sources = new Map<string, z.ZodType>();
  const registries = { input: z.registry<{ id: string }>(), output: z.registry<{ id: string }>() };
  const sharedNames = new Set<string>();
  for (const side of ['input', 'output'] as const) {
    for (const [schema, id] of shared[side] ?? []) {
      registries[side].add(schema, { id });
      sharedNames.add(id);
    }
  }

  function store(name: string, json: JsonSchema): void {
    const existing = schemas[name];
    if (existing && JSON.stringify(existing) !== JSON.stringify(json)) {
      throw new Error(`OpenAPI component ${name} would have two different definitions`);
    }
    schemas[name] = json;
  }

  function convert(schema: z.ZodType, side: SchemaSide, owner: string): JsonSchema {
    const converted = z.toJSONSchema(schema, {
      target: 'draft-2020-12',
      io: side,
      unrepresentable: 'throw',
      metadata: registries[side],
      // The registry above names shared components; .describe() lands in the
      // global one, which zod then does not read: copy its descriptions over.
      override: (ctx) => {
        const description = z.globalRegistry.get(ctx.zodSchema)?.description;
        if (description !== undefined && ctx.jsonSchema.description === undefined)
          ctx.jsonSchema.description = description;
      },
    }) as JsonSchema;
    const { $schema: _dialect, $defs, ...root } = converted;
    const defs = ($defs ?? {}) as Record<string, JsonSchema>;
    const names = new Map<string, string>();
    for (const [defName, def] of Object.entries(defs)) {
      if (sharedNames.has(defName)) {
        names.set(defName, defName);
        continue;
      }
      const shape = shapeOf(def, defName);
      const name =
        shape === JSON_VALUE_SHAPE
          ? 'JsonValue'
          : (anonymous.get(shape) ?? `${owner}${defName.replace(/^_+schema/, 'Part')}`);
      anonymous.set(shape, name);
      names.set(defName, name);
    }
    const toComponent = (ref: string) => {
      if (ref === '#') return `${COMPONENTS}${owner}`;
      if (!ref.startsWith(DEFS)) throw new Error(`unexpected $ref ${ref} in ${owner}`);
      return `${COMPONENTS}${names.get(ref.slice(DEFS.length)) ?? ref}`;
    };
    for (const [defName, def] of Object.entries(defs)) {
      store(names.get(defName)!, mapRefs(def, toComponent) as JsonSchema);
    }
    const json = mapRefs(root, toComponent) as JsonSchema;
    // A shared schema converted on its own: zod answers a $ref to its own definition.
    const keys = Object.keys(json);
    if (keys.length === 1 && json.$ref === `${COMPONENTS}${owner}`) return schemas[owner]!;
    return json;
  }

  return {
    ref(name, schema, side, patch) {
      const source = sources.get(name);
      if (source !== undefined && source !== schema) {
        throw new Error(`OpenAPI component ${name} is asked for with two different schemas`);
      }
      if (source === undefined) {
        sources.set(name, schema);
        const json = convert(schema, side, name);
        patch?.(json);
        store(name, json);
      }
      return { $ref: `${COMPONENTS}${name}` };
    },
    inline: (schema, side, owner = 'Inline') => convert(schema, side, owner),
    all: () => schemas,
  };
}

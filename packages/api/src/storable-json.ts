import type { FieldError } from './problem';

/** Deeper bodies are refused before validation (zod and JSON.stringify recurse). */
export const MAX_JSON_DEPTH = 64;
const MAX_ERRORS = 20;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** U+0000 (Postgres text and jsonb refuse it) or a UTF-16 surrogate without its pair. */
const unstorable = (text: string): boolean => text.includes('\u0000') || LONE_SURROGATE.test(text);

interface Node {
  value: unknown;
  key: string;
  parent: Node | undefined;
  depth: number;
}

function pathOf(node: Node | undefined, key?: string): string {
  const parts = key === undefined ? [] : [key];
  for (let n = node; n?.parent; n = n.parent) parts.push(n.key);
  return parts.reverse().join('.') || '(body)';
}

/**
 * What a parsed JSON body holds that Postgres could not store or that would
 * exhaust the stack further on: NUL characters, lone surrogates (in keys or
 * values) and nesting deeper than MAX_JSON_DEPTH. Iterative, with paths built
 * only for the errors, so whatever the 1 MiB parser accepts is walked safely.
 * Names each offending field by dotted path.
 */
export function storableJsonErrors(body: unknown): FieldError[] {
  const errors: FieldError[] = [];
  const fail = (field: string, message: string) => errors.push({ field, in: 'body', message });
  const stack: Node[] = [{ value: body, key: '', parent: undefined, depth: 0 }];
  while (stack.length > 0 && errors.length < MAX_ERRORS) {
    const node = stack.pop()!;
    const { value } = node;
    if (typeof value === 'string') {
      if (unstorable(value))
        fail(pathOf(node), 'contains a NUL character or an unpaired surrogate');
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (node.depth >= MAX_JSON_DEPTH) {
      fail(pathOf(node), `nested deeper than ${MAX_JSON_DEPTH} levels`);
      continue;
    }
    const keys = Array.isArray(value) ? value.map((_, i) => String(i)) : Object.keys(value);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      if (unstorable(key)) {
        fail(pathOf(node, key), 'key contains a NUL character or an unpaired surrogate');
        continue;
      }
      const child = (value as Record<string, unknown>)[key];
      stack.push({ value: child, key, parent: node, depth: node.depth + 1 });
    }
  }
  return errors;
}

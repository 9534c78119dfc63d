// The part of `kustomize build` that k8s/ uses, so tests can check what an
// overlay really produces without the kustomize binary (this machine has no
// cluster and no kustomize). Anything else in a kustomization.yaml is refused,
// so a new feature there fails the tests until it is supported here.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

export type Mapping = Record<string, unknown>;

export interface Resource extends Mapping {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
}

export const isMapping = (value: unknown): value is Mapping =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Every document of a YAML file (empty ones skipped); a syntax error throws, naming the file. */
export function readYamlDocuments(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const list = Array.isArray(docs) ? docs : [docs];
  const errors = list.flatMap((d) => d.errors);
  if (errors.length > 0) throw new Error(`${file}: ${errors.map((e) => e.message).join('; ')}`);
  return list.map((d) => d.toJS() as unknown).filter((d) => d !== null && d !== undefined);
}

export function readResources(file: string): Resource[] {
  return readYamlDocuments(file).map((doc) => {
    if (
      !isMapping(doc) ||
      typeof doc.apiVersion !== 'string' ||
      typeof doc.kind !== 'string' ||
      !isMapping(doc.metadata) ||
      typeof doc.metadata.name !== 'string'
    ) {
      throw new Error(`${file}: every document needs apiVersion, kind and metadata.name`);
    }
    return doc as Resource;
  });
}

const SUPPORTED = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'resources',
  'patches',
  'images',
  'replicas',
  'labels',
]);

interface Patch {
  path?: string;
  patch?: string;
  target?: { kind?: string; name?: string };
}

export interface Kustomization {
  dir: string;
  namespace?: string;
  resources: string[];
  patches: Patch[];
  images: { name: string; newName?: string; newTag?: string }[];
  replicas: { name: string; count: number }[];
  labels: {
    pairs: Record<string, string>;
    includeSelectors?: boolean;
    includeTemplates?: boolean;
  }[];
}

export function readKustomization(dir: string): Kustomization {
  const raw: unknown = parse(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8'));
  if (!isMapping(raw)) throw new Error(`${dir}/kustomization.yaml is not a mapping`);
  const unsupported = Object.keys(raw).filter((key) => !SUPPORTED.has(key));
  if (unsupported.length > 0) {
    throw new Error(`${dir}/kustomization.yaml: unsupported here: ${unsupported.join(', ')}`);
  }
  return {
    dir,
    namespace: raw.namespace as string | undefined,
    resources: (raw.resources as string[] | undefined) ?? [],
    patches: (raw.patches as Patch[] | undefined) ?? [],
    images: (raw.images as Kustomization['images'] | undefined) ?? [],
    replicas: (raw.replicas as Kustomization['replicas'] | undefined) ?? [],
    labels: (raw.labels as Kustomization['labels'] | undefined) ?? [],
  };
}

/** Files a kustomization names (resources and patch files), resolved; directories included. */
export function referencedPaths(k: Kustomization): string[] {
  return [...k.resources, ...k.patches.flatMap((p) => (p.path === undefined ? [] : [p.path]))].map(
    (p) => path.resolve(k.dir, p),
  );
}

/** Strategic merge, simplified: maps merge, lists of named items merge by name, null deletes. */
export function strategicMerge(base: unknown, patch: unknown): unknown {
  if (isMapping(base) && isMapping(patch)) {
    const out: Mapping = { ...base };
    for (const [key, value] of Object.entries(patch)) {
      if (key.startsWith('$')) throw new Error(`patch directive ${key} is not supported here`);
      if (value === null) delete out[key];
      else out[key] = strategicMerge(base[key], value);
    }
    return out;
  }
  const named = (list: unknown[]) => list.every((i) => isMapping(i) && typeof i.name === 'string');
  if (Array.isArray(base) && Array.isArray(patch) && named(base) && named(patch)) {
    const out = [...base] as Mapping[];
    for (const item of patch as Mapping[]) {
      const at = out.findIndex((i) => i.name === item.name);
      if (at === -1) out.push(item);
      else out[at] = strategicMerge(out[at], item) as Mapping;
    }
    return out;
  }
  return structuredClone(patch);
}

/** RFC 6902 add / replace / remove on JSON pointers. */
export function jsonPatch(doc: unknown, ops: Mapping[]): unknown {
  const root = structuredClone(doc);
  for (const op of ops) {
    const tokens = String(op.path)
      .split('/')
      .slice(1)
      .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = tokens.pop();
    let parent: unknown = root;
    for (const token of tokens) {
      parent = Array.isArray(parent) ? parent[Number(token)] : (parent as Mapping)[token];
      if (parent === undefined) throw new Error(`json patch: ${String(op.path)} does not exist`);
    }
    if (last === undefined) throw new Error('json patch: the root cannot be patched');
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (op.op === 'add') parent.splice(index, 0, op.value);
      else if (op.op === 'replace') parent[index] = op.value;
      else if (op.op === 'remove') parent.splice(index, 1);
      else throw new Error(`json patch: op ${String(op.op)} is not supported here`);
    } else if (isMapping(parent)) {
      if (op.op === 'replace' && !(last in parent)) {
        throw new Error(`json patch: ${String(op.path)} does not exist`);
      }
      if (op.op === 'add' || op.op === 'replace') parent[last] = op.value;
      else if (op.op === 'remove') delete parent[last];
      else throw new Error(`json patch: op ${String(op.op)} is not supported here`);
    } else {
      throw new Error(`json patch: ${String(op.path)} has no parent object`);
    }
  }
  return root;
}

function applyPatch(resources: Resource[], p: Patch, dir: string): Resource[] {
  const body: unknown =
    p.path !== undefined
      ? parse(readFileSync(path.resolve(dir, p.path), 'utf8'))
      : parse(p.patch ?? '');
  // Without a target, a strategic-merge patch names its own kind and name.
  const self = isMapping(body) ? (body as Partial<Resource>) : undefined;
  const kind = p.target?.kind ?? self?.kind;
  const name = p.target?.name ?? self?.metadata?.name;
  if (kind === undefined && name === undefined) throw new Error(`${dir}: a patch has no target`);
  let matched = 0;
  const out = resources.map((r) => {
    if ((kind !== undefined && r.kind !== kind) || (name !== undefined && r.metadata.name !== name))
      return r;
    matched += 1;
    return (
      Array.isArray(body) ? jsonPatch(r, body as Mapping[]) : strategicMerge(r, body)
    ) as Resource;
  });
  if (matched === 0) throw new Error(`${dir}: a patch matches nothing (${kind}/${name})`);
  return out;
}

const podSpecOf = (r: Resource): Mapping | undefined => {
  const template = (r.spec as Mapping | undefined)?.template as Mapping | undefined;
  return template?.spec as Mapping | undefined;
};

function setImages(resources: Resource[], images: Kustomization['images']): void {
  for (const r of resources) {
    const spec = podSpecOf(r);
    const containers = [
      ...((spec?.containers as Mapping[] | undefined) ?? []),
      ...((spec?.initContainers as Mapping[] | undefined) ?? []),
    ];
    for (const c of containers) {
      const image = String(c.image);
      const tagAt = image.lastIndexOf(':') > image.lastIndexOf('/') ? image.lastIndexOf(':') : -1;
      const [name, tag] =
        tagAt === -1 ? [image, undefined] : [image.slice(0, tagAt), image.slice(tagAt + 1)];
      const rule = images.find((i) => i.name === name);
      if (!rule) continue;
      const newTag = rule.newTag ?? tag;
      c.image = `${rule.newName ?? name}${newTag === undefined ? '' : `:${newTag}`}`;
    }
  }
}

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
]);

/** `kustomize build <dir>` for the features listed in SUPPORTED. */
export function build(dir: string): Resource[] {
  const k = readKustomization(dir);
  let resources: Resource[] = [];
  for (const entry of referencedPaths({ ...k, patches: [] })) {
    if (!existsSync(entry)) throw new Error(`${dir}: ${entry} does not exist`);
    resources.push(...(statSync(entry).isDirectory() ? build(entry) : readResources(entry)));
  }
  resources = structuredClone(resources);
  for (const p of k.patches) resources = applyPatch(resources, p, dir);
  setImages(resources, k.images);
  for (const { name, count } of k.replicas) {
    const target = resources.find((r) => r.metadata.name === name && isMapping(r.spec));
    if (!target) throw new Error(`${dir}: replicas for ${name}, which does not exist`);
    (target.spec as Mapping).replicas = count;
  }
  for (const { pairs, includeSelectors, includeTemplates } of k.labels) {
    if (includeSelectors)
      throw new Error(`${dir}: labels with includeSelectors are not supported here`);
    for (const r of resources) {
      r.metadata.labels = { ...r.metadata.labels, ...pairs };
      const template = (r.spec as Mapping | undefined)?.template;
      if (includeTemplates && isMapping(template)) {
        const meta = (template.metadata ?? {}) as Mapping;
        template.metadata = {
          ...meta,
          labels: { ...(meta.labels as Mapping | undefined), ...pairs },
        };
      }
    }
  }
  if (k.namespace !== undefined) {
    for (const r of resources) if (!CLUSTER_SCOPED.has(r.kind)) r.metadata.namespace = k.namespace;
  }
  return resources;
}

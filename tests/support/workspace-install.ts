// What a `pnpm install --prod --filter …` of this workspace installs, worked
// out from the package.json files and pnpm-lock.yaml (no docker engine here to
// build the image and look). Only the filter forms the Dockerfile uses are
// understood; anything else throws rather than guess.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

export interface WorkspaceProject {
  name: string;
  /** Relative to the workspace root, e.g. services/gateway. */
  dir: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}

/** Every project of pnpm-workspace.yaml (single-level `dir/*` globs), the root as ".". */
export function workspaceProjects(root: string): WorkspaceProject[] {
  const workspace = parse(readFileSync(path.join(root, 'pnpm-workspace.yaml'), 'utf8')) as {
    packages: string[];
  };
  const dirs = ['.'];
  for (const glob of workspace.packages) {
    const match = /^([\w.-]+)\/\*$/.exec(glob);
    if (!match) throw new Error(`unsupported workspace glob ${glob}`);
    for (const entry of readdirSync(path.join(root, match[1]!), { withFileTypes: true })) {
      const dir = `${match[1]}/${entry.name}`;
      if (entry.isDirectory() && existsSync(path.join(root, dir, 'package.json'))) dirs.push(dir);
    }
  }
  return dirs.map((dir) => {
    const pkg = JSON.parse(readFileSync(path.join(root, dir, 'package.json'), 'utf8')) as {
      name: string;
      dependencies?: Record<string, string>;
      devDependencies?: Record<string, string>;
    };
    return {
      name: pkg.name,
      dir,
      dependencies: pkg.dependencies ?? {},
      devDependencies: pkg.devDependencies ?? {},
    };
  });
}

/**
 * The projects a `pnpm install --prod` with these --filter selectors installs:
 * `{./dir/*}...` and `name...` select the matching projects and, through
 * their production dependencies, every workspace project they depend on.
 */
export function selectProjects(projects: WorkspaceProject[], filters: string[]): Set<string> {
  const roots: WorkspaceProject[] = [];
  for (const filter of filters) {
    const dirGlob = /^\{\.\/([\w.-]+)\/\*\}\.\.\.$/.exec(filter);
    const name = /^(@?[\w./-]+)\.\.\.$/.exec(filter);
    const matched = dirGlob
      ? projects.filter((p) => p.dir.startsWith(`${dirGlob[1]}/`))
      : projects.filter((p) => name !== null && p.name === name[1]);
    if (matched.length === 0) throw new Error(`unsupported or unmatched filter ${filter}`);
    roots.push(...matched);
  }
  return withWorkspaceDependencies(projects, roots);
}

/** These projects and every workspace project they depend on (production dependencies). */
export function withWorkspaceDependencies(
  projects: WorkspaceProject[],
  roots: WorkspaceProject[],
): Set<string> {
  const byName = new Map(projects.map((p) => [p.name, p]));
  const selected = new Set<string>();
  const add = (project: WorkspaceProject) => {
    if (selected.has(project.dir)) return;
    selected.add(project.dir);
    for (const dep of Object.keys(project.dependencies)) {
      const workspaceDep = byName.get(dep);
      if (workspaceDep) add(workspaceDep);
    }
  };
  roots.forEach(add);
  return selected;
}

interface LockDependency {
  specifier: string;
  version: string;
}

interface Lockfile {
  importers: Record<
    string,
    {
      dependencies?: Record<string, LockDependency>;
      devDependencies?: Record<string, LockDependency>;
    }
  >;
  packages: Record<
    string,
    {
      peerDependencies?: Record<string, string>;
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    }
  >;
  snapshots: Record<
    string,
    { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }
  >;
}

export function readLockfile(root: string): Lockfile {
  return parse(readFileSync(path.join(root, 'pnpm-lock.yaml'), 'utf8')) as Lockfile;
}

/** `name@1.2.3(peer@4.5.6)` → `name@1.2.3`. */
const withoutPeers = (key: string) => key.replace(/\(.*$/, '');

export interface InstalledPackages {
  /** Every external package (`name@version`) linked, with a path that reaches it. */
  all: Map<string, string[]>;
  /** Those reached through declared dependencies alone, no optional peer on the way. */
  required: Set<string>;
  /**
   * Optional peers the lockfile resolved (against some project's
   * devDependencies) that nothing requires: a --prod install links them anyway.
   */
  optionalPeers: Set<string>;
}

/**
 * What a production install of these importers links, following the
 * lockfile's snapshots, which list the optional peers the lockfile resolved
 * beside the declared dependencies.
 */
export function installedPackages(lock: Lockfile, importers: Iterable<string>): InstalledPackages {
  const all = new Map<string, string[]>();
  const required = new Set<string>();
  const peerTargets = new Set<string>();
  const isOptionalPeer = (id: string, dep: string) =>
    lock.packages[id]?.peerDependenciesMeta?.[dep]?.optional === true &&
    lock.packages[id]?.peerDependencies?.[dep] !== undefined;
  const visit = (key: string, via: string[], viaOptionalPeer: boolean) => {
    const id = withoutPeers(key);
    const seen = all.has(id);
    if (seen && (viaOptionalPeer || required.has(id))) return;
    if (!seen) all.set(id, via);
    if (!viaOptionalPeer) required.add(id);
    const snapshot = lock.snapshots[key];
    if (!snapshot) throw new Error(`no snapshot ${key} in pnpm-lock.yaml`);
    for (const deps of [snapshot.dependencies, snapshot.optionalDependencies]) {
      for (const [name, version] of Object.entries(deps ?? {})) {
        const peer = isOptionalPeer(id, name);
        // Where the optional-peer edges leave what production needs.
        if (peer && !viaOptionalPeer) peerTargets.add(withoutPeers(`${name}@${version}`));
        visit(`${name}@${version}`, [...via, id], viaOptionalPeer || peer);
      }
    }
  };
  for (const dir of importers) {
    for (const [name, { version }] of Object.entries(lock.importers[dir]?.dependencies ?? {})) {
      if (version.startsWith('link:')) continue; // a workspace project
      visit(`${name}@${version}`, [dir], false);
    }
  }
  return {
    all,
    required,
    optionalPeers: new Set([...peerTargets].filter((id) => !required.has(id))),
  };
}

/** `name@version` of an importer's dependencies of one kind, workspace links left out. */
export function lockedDependencies(
  lock: Lockfile,
  dir: string,
  kind: 'dependencies' | 'devDependencies',
): string[] {
  return Object.entries(lock.importers[dir]?.[kind] ?? {})
    .filter(([, { version }]) => !version.startsWith('link:'))
    .map(([name, { version }]) => withoutPeers(`${name}@${version}`));
}

// Docker here is only a client, so the deployment files cannot be built or run:
// these tests parse them and hold them to the services that exist. Everything
// is derived from the services/ directory listing and the config code, so a new
// service fails here until the Dockerfile, compose file and scripts know it.
import { execFile as execFileCallback } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { DEFAULT_METRICS_PORT, loadGatewayConfig } from '@herald/core';
import { SERVICE_NODE_FLAGS } from '@herald/cli';
import {
  installedPackages,
  lockedDependencies,
  readLockfile,
  selectProjects,
  withWorkspaceDependencies,
  workspaceProjects,
} from './support/workspace-install';

const execFile = promisify(execFileCallback);

const ROOT = path.resolve(__dirname, '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** Every directory under services/ with a src/main.ts, as the CLI discovers them. */
const SERVICES = readdirSync(path.join(ROOT, 'services'), { withFileTypes: true })
  .filter(
    (e) => e.isDirectory() && existsSync(path.join(ROOT, 'services', e.name, 'src', 'main.ts')),
  )
  .map((e) => e.name)
  .sort();

/** One-shot commands of the image besides the services. */
const CLI_COMMANDS = ['migrate', 'token'];

/** The port a service listens on when nothing overrides it, read from the config code. */
function defaultPort(service: string): number {
  if (service === 'gateway') {
    return loadGatewayConfig({ JWT_SECRET: 'x'.repeat(32) }).port;
  }
  const key = service.replace(/^worker-/, '');
  if (!Object.hasOwn(DEFAULT_METRICS_PORT, key)) {
    throw new Error(`no default METRICS_PORT for ${service}: add "${key}" to DEFAULT_METRICS_PORT`);
  }
  return DEFAULT_METRICS_PORT[key as keyof typeof DEFAULT_METRICS_PORT];
}

/** The variable that moves a service's port (config/gateway.ts, config/worker.ts). */
const portVariable = (service: string) => (service === 'gateway' ? 'PORT' : 'METRICS_PORT');

// ---------------------------------------------------------------- compose

type Mapping = Record<string, unknown>;
const isMapping = (value: unknown): value is Mapping =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const COMPOSE_TEXT = read('docker-compose.yml');
// Compose honours YAML merge keys (`<<: *herald`); so must the parser.
const compose: unknown = parse(COMPOSE_TEXT, { merge: true });
const composeServices: Record<string, Mapping> =
  isMapping(compose) && isMapping(compose.services)
    ? (compose.services as Record<string, Mapping>)
    : {};

function tokens(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'string') return value.trim().split(/\s+/);
  return [];
}

/** A compose service's environment, whether written as a mapping or as KEY=VALUE lines. */
function environmentOf(service: Mapping): Record<string, string> {
  const env = service.environment;
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((line) => {
        const [key, ...value] = String(line).split('=');
        return [key, value.join('=')];
      }),
    );
  }
  if (isMapping(env)) {
    return Object.fromEntries(
      Object.entries(env).map(([key, value]) => [key, value == null ? '' : String(value)]),
    );
  }
  return {};
}

function dependsOn(service: Mapping): Record<string, string | undefined> {
  const deps = service.depends_on;
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [String(d), undefined]));
  if (isMapping(deps)) {
    return Object.fromEntries(
      Object.entries(deps).map(([name, spec]) => [
        name,
        isMapping(spec) && typeof spec.condition === 'string' ? spec.condition : undefined,
      ]),
    );
  }
  return {};
}

function buildContext(service: Mapping): string | undefined {
  if (typeof service.build === 'string') return service.build;
  if (isMapping(service.build) && typeof service.build.context === 'string') {
    return service.build.context;
  }
  return undefined;
}

const migrateService = composeServices.migrate ?? {};
const HERALD_IMAGE = typeof migrateService.image === 'string' ? migrateService.image : undefined;

/** Built from this repository's Dockerfile, or tagged with the image migrate builds. */
function usesHeraldImage(service: Mapping): boolean {
  const context = buildContext(service);
  if (context !== undefined && path.resolve(ROOT, context) === ROOT) return true;
  return HERALD_IMAGE !== undefined && service.image === HERALD_IMAGE;
}

/** Ports named by http://127.0.0.1:<port>/… or localhost:<port> in a healthcheck test. */
function healthcheckPorts(service: Mapping): number[] {
  const check = service.healthcheck;
  if (!isMapping(check) || check.disable === true) return [];
  const text = tokens(check.test).join(' ');
  return [...text.matchAll(/(?:127\.0\.0\.1|localhost|\[::1\]):(\d+)/g)].map((m) => Number(m[1]));
}

describe('docker-compose.yml', () => {
  it('parses and defines services', () => {
    expect(isMapping(compose)).toBe(true);
    expect(Object.keys(composeServices).length).toBeGreaterThan(0);
  });

  it('shares the Herald environment through an x-herald anchor', () => {
    expect(COMPOSE_TEXT).toMatch(/^x-herald[\w-]*:\s*&/m);
    for (const name of SERVICES) {
      const env = environmentOf(composeServices[name] ?? {});
      expect({ name, keys: Object.keys(env) }).toEqual({
        name,
        keys: expect.arrayContaining(['REDIS_URL', 'DATABASE_URL', 'LOG_LEVEL']),
      });
    }
    expect(environmentOf(composeServices.gateway ?? {}).JWT_SECRET).toBeTruthy();
  });

  it('has a one-shot migrate service built from this repository', () => {
    expect(HERALD_IMAGE).toBeDefined();
    expect(buildContext(migrateService)).toBeDefined();
    expect(path.resolve(ROOT, buildContext(migrateService) ?? '/nowhere')).toBe(ROOT);
    expect(tokens(migrateService.command)[0]).toBe('migrate');
    expect(dependsOn(migrateService).postgres).toBe('service_healthy');
  });

  it('runs redis with AOF on and the noeviction policy BullMQ needs', () => {
    const redis = composeServices.redis;
    expect(redis).toBeDefined();
    expect(String(redis?.image)).toMatch(/^redis:/);
    const command = tokens(redis?.command);
    const valueOf = (flag: string) => command[command.indexOf(flag) + 1];
    expect(command).toContain('--appendonly');
    expect(valueOf('--appendonly')).toBe('yes');
    expect(command).toContain('--maxmemory-policy');
    expect(valueOf('--maxmemory-policy')).toBe('noeviction');
  });

  it('gives every long-running service a healthcheck', () => {
    for (const [name, service] of Object.entries(composeServices)) {
      if (name === 'migrate') continue; // one-shot: exits once migrations are applied
      const check = service.healthcheck;
      expect({ name, test: isMapping(check) ? tokens(check.test).length > 0 : false }).toEqual({
        name,
        test: true,
      });
      expect({ name, disabled: isMapping(check) && check.disable === true }).toEqual({
        name,
        disabled: false,
      });
    }
  });

  it('names no services/ directory or service command that does not exist', () => {
    for (const match of COMPOSE_TEXT.matchAll(/services\/([A-Za-z0-9][\w.-]*)/g)) {
      expect(SERVICES).toContain(match[1]);
    }
    for (const [name, service] of Object.entries(composeServices)) {
      if (!usesHeraldImage(service)) continue;
      const command = tokens(service.command)[0];
      expect({ name, command }).toEqual({
        name,
        command: expect.stringMatching(
          new RegExp(`^(${[...SERVICES, ...CLI_COMMANDS].join('|')})$`),
        ),
      });
    }
  });

  describe.each(SERVICES)('service %s', (name) => {
    const service = composeServices[name] ?? {};

    it('is a compose service of the same name, running the Herald image with its name as command', () => {
      expect(Object.keys(composeServices)).toContain(name);
      expect(usesHeraldImage(service)).toBe(true);
      expect(tokens(service.command)[0]).toBe(name);
    });

    it('is health-checked on the port its config uses', () => {
      const expectedPort = defaultPort(name);
      const configured = environmentOf(service)[portVariable(name)];
      const port = configured ? Number(configured) : expectedPort;
      // Compose keeps every service on its documented default port.
      expect(port).toBe(expectedPort);
      const ports = healthcheckPorts(service);
      expect(ports.length).toBeGreaterThan(0);
      expect(new Set(ports)).toEqual(new Set([port]));
    });

    it('publishes, if anything, the port it listens on', () => {
      const expectedPort = defaultPort(name);
      for (const mapping of tokens(service.ports)) {
        const containerPort = Number(mapping.split(':').pop()?.split('/')[0]);
        expect(containerPort).toBe(expectedPort);
      }
    });

    it('starts after migrate completed successfully and Redis and Postgres are healthy', () => {
      const deps = dependsOn(service);
      expect(deps.migrate).toBe('service_completed_successfully');
      expect(deps.redis).toBe('service_healthy');
      expect(deps.postgres).toBe('service_healthy');
    });
  });
});

// ---------------------------------------------------------------- Dockerfile

/** Instructions with line continuations joined and comments dropped. */
function dockerInstructions(text: string): { keyword: string; args: string }[] {
  const lines: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (current.trim()) lines.push(current.trim());
    current = '';
  }
  if (current.trim()) lines.push(current.trim());
  return lines.map((line) => {
    const [keyword = '', ...rest] = line.split(/\s+/);
    return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
  });
}

describe('Dockerfile', () => {
  const instructions = dockerInstructions(read('Dockerfile'));
  const froms = instructions.filter((i) => i.keyword === 'FROM');
  const lastFrom = instructions.lastIndexOf(froms[froms.length - 1]!);
  const finalStage = instructions.slice(lastFrom);

  it('is multi-stage', () => {
    expect(froms.length).toBeGreaterThan(1);
  });

  it('runs the final image as a non-root user', () => {
    const users = finalStage.filter((i) => i.keyword === 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users[users.length - 1]!.args.split(':')[0];
    expect(['root', '0', '']).not.toContain(user);
  });

  it('has a HEALTHCHECK whose script ships in the repository', () => {
    const checks = finalStage.filter((i) => i.keyword === 'HEALTHCHECK');
    expect(checks).toHaveLength(1);
    expect(checks[0]!.args).not.toMatch(/^NONE$/i);
    expect(checks[0]!.args).toMatch(/\bCMD\b/);
    for (const script of checks[0]!.args.matchAll(/\/app\/(docker\/[\w.-]+)/g)) {
      expect(existsSync(path.join(ROOT, script[1]!))).toBe(true);
    }
  });

  it('enters through docker/entrypoint.sh', () => {
    const entrypoint = finalStage.filter((i) => i.keyword === 'ENTRYPOINT');
    expect(entrypoint).toHaveLength(1);
    expect(entrypoint[0]!.args).toContain('docker/entrypoint.sh');
  });

  it('installs from the lockfile and never allows dependency install scripts', () => {
    const runs = instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    const installs = runs.filter((r) => /pnpm install/.test(r));
    expect(installs.length).toBeGreaterThan(0);
    for (const install of installs) expect(install).toContain('--frozen-lockfile');
    expect(runs.join('\n')).toMatch(/pnpm (--filter @herald\/db|-F @herald\/db) generate/);
    expect(read('Dockerfile')).not.toMatch(
      /approve-builds|onlyBuiltDependencies|dangerouslyAllowAllBuilds|pnpm rebuild/,
    );
  });
});

// ---------------------------------------------------------------- production dependencies

/** Single- or double-quoted words unquoted, as the shell would pass them. */
const shellWords = (command: string) =>
  [...command.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);

/**
 * Optional peers the lockfile resolved against devDependencies, which a
 * `--prod` install still links: @prisma/client's `prisma` and `typescript`
 * (resolved against @herald/db's prisma devDependency) and valibot's
 * `typescript` (under @bull-board/api). Nothing loads them at run time (the
 * client is generated, engine-less); dropping them needs the lockfile to stop
 * resolving those peers. Any other dev package reaching the image fails here.
 */
const KNOWN_OPTIONAL_PEER_LEAKS = ['prisma', 'typescript'];

describe('Dockerfile production install', () => {
  const instructions = dockerInstructions(read('Dockerfile'));
  const stages = new Map<string, { keyword: string; args: string }[]>();
  let current: { keyword: string; args: string }[] = [];
  for (const i of instructions) {
    if (i.keyword === 'FROM') {
      current = [];
      const name = /\bAS\s+(\S+)$/i.exec(i.args)?.[1];
      if (name) stages.set(name, current);
    }
    current.push(i);
  }
  const runtime = [...stages.values()].at(-1)!;
  const copiedFrom = runtime
    .filter((i) => i.keyword === 'COPY')
    .map((i) => /--from=(\S+)\s+\/app\s+\/app$/.exec(i.args)?.[1])
    .filter(Boolean);
  const prodStage = stages.get(copiedFrom[0] ?? '') ?? [];
  const install = prodStage.find((i) => i.keyword === 'RUN' && /pnpm install/.test(i.args));
  const words = shellWords(install?.args ?? '');
  const filters = words.flatMap((w, n) => (w === '--filter' ? [words[n + 1]!] : []));

  const projects = workspaceProjects(ROOT);
  const lock = readLockfile(ROOT);
  // Without a filter pnpm installs every project of the workspace.
  const selected =
    filters.length > 0 ? selectProjects(projects, filters) : new Set(projects.map((p) => p.dir));
  const installed = installedPackages(lock, selected);

  it('copies the whole /app of one stage into the runtime image, installed from the lockfile with --prod', () => {
    expect(copiedFrom).toHaveLength(1);
    expect(words).toEqual(
      expect.arrayContaining(['--prod', '--frozen-lockfile', '--ignore-scripts']),
    );
  });

  it('installs only for the services and the CLI, with the workspace packages they depend on', () => {
    expect(filters.length).toBeGreaterThan(0);
    const expected = withWorkspaceDependencies(
      projects,
      projects.filter(
        (p) => SERVICES.some((s) => p.dir === `services/${s}`) || p.name === '@herald/cli',
      ),
    );
    for (const service of SERVICES) expect([...selected]).toContain(`services/${service}`);
    expect([...selected].sort()).toEqual([...expected].sort());
    expect(selected.has('packages/testkit')).toBe(false);
    expect(selected.has('.')).toBe(false);
  });

  it('leaves the testkit out of the image, its source too', () => {
    const testkit = projects.find((p) => p.name === '@herald/testkit')!;
    expect(selected.has(testkit.dir)).toBe(false);
    expect(install?.args).toMatch(new RegExp(`rm -rf ${testkit.dir}\\b`));
  });

  it('links none of the packages only the testkit needs (smtp-server, selfsigned, postal-mime, …)', () => {
    const testOnly = lockedDependencies(lock, 'packages/testkit', 'dependencies').filter(
      (id) => !installed.required.has(id),
    );
    expect(testOnly.map((id) => id.replace(/@[^@]+$/, ''))).toEqual(
      expect.arrayContaining(['smtp-server', 'selfsigned', 'postal-mime', 'http_ece']),
    );
    expect(testOnly.filter((id) => installed.all.has(id))).toEqual([]);
  });

  it('links no devDependency of the workspace, apart from the optional peers named here', () => {
    const prodDirect = new Set(
      [...selected].flatMap((d) => lockedDependencies(lock, d, 'dependencies')),
    );
    const devOnly = projects
      .flatMap((p) => lockedDependencies(lock, p.dir, 'devDependencies'))
      .filter((id) => !prodDirect.has(id));
    expect(devOnly.map((id) => id.replace(/@[^@]+$/, ''))).toEqual(
      expect.arrayContaining([
        'jest',
        'eslint',
        'prettier',
        'prisma',
        'supertest',
        'playwright-core',
      ]),
    );
    // Declared dependencies of production packages are production packages
    // (@prisma/adapter-pg declares @types/pg); what only an optional peer pulls in is not.
    const leaked = devOnly.filter((id) => installed.all.has(id) && !installed.required.has(id));
    const peers = [...installed.optionalPeers].map((id) => id.replace(/@[^@]+$/, ''));
    expect([...new Set(peers)].sort()).toEqual(KNOWN_OPTIONAL_PEER_LEAKS);
    for (const id of leaked) {
      expect({ id, via: installed.all.get(id) }).toEqual({
        id,
        via: expect.arrayContaining([expect.stringMatching(/^(@prisma\/client|valibot|prisma)@/)]),
      });
    }
  });
});

// ---------------------------------------------------------------- references

describe('files named by the repository', () => {
  /** Tracked text files (the lockfile aside): the ones a reader follows. */
  const tracked = async () =>
    (await execFile('git', ['ls-files'], { cwd: ROOT })).stdout
      .split('\n')
      .filter((f) => f && f !== 'pnpm-lock.yaml' && !/\.(png|jpe?g|gif|ico)$/.test(f))
      .filter((f) => existsSync(path.join(ROOT, f)));

  it('are all there: every tests/… and docs/… path a file mentions exists', async () => {
    const missing: string[] = [];
    for (const file of await tracked()) {
      const text = read(file);
      for (const m of text.matchAll(
        /(?<![\w/.-])((?:tests|docs)\/[\w./-]+\.(?:ts|md|png|svg|json|ya?ml|cjs|js))\b/g,
      )) {
        if (!existsSync(path.join(ROOT, m[1]!))) missing.push(`${file} → ${m[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('README.md links and shows only files that exist', () => {
    const file = 'README.md';
    const dir = path.dirname(path.join(ROOT, file));
    const targets = [...read(file).matchAll(/\]\(([^)#\s:]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!);
    expect(targets.length).toBeGreaterThan(0);
    expect(targets.filter((t) => !existsSync(path.join(dir, t)))).toEqual([]);
  });
});

// ---------------------------------------------------------------- scripts

const ENTRYPOINT = path.join(ROOT, 'docker', 'entrypoint.sh');
const HEALTHCHECK = path.join(ROOT, 'docker', 'healthcheck.cjs');

/** What the entry script would exec for these arguments (it prints instead of running). */
async function entrypointDryRun(...args: string[]): Promise<string[]> {
  const { stdout } = await execFile('sh', [ENTRYPOINT, ...args], {
    cwd: ROOT,
    env: { ...process.env, HERALD_ENTRYPOINT_DRY_RUN: '1' },
  });
  return stdout.trim().split(/\s+/);
}

/** Environment without the port variables, so defaults apply. */
function envWithoutPorts(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.PORT;
  delete env.METRICS_PORT;
  delete env.HERALD_SERVICE;
  return { ...env, ...extra };
}

async function exitCode(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 0;
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

describe('docker/entrypoint.sh', () => {
  it.each(SERVICES)('runs %s with tsx from its services/ directory', async (name) => {
    const argv = await entrypointDryRun(name);
    expect(argv[0]).toBe('node');
    const loader = argv[argv.indexOf('--import') + 1];
    expect(loader).toMatch(/^file:\/\//);
    expect(existsSync(fileURLToPath(loader!))).toBe(true);
    expect(argv[argv.length - 1]).toBe(`services/${name}/src/main.ts`);
    // The same node flags as `pnpm start` gives every service.
    expect(argv.slice(1, argv.indexOf('--import'))).toEqual([...SERVICE_NODE_FLAGS]);
  });

  it('runs migrate through the CLI', async () => {
    const argv = await entrypointDryRun('migrate');
    expect(argv.slice(-2)).toEqual(['packages/cli/src/main.ts', 'migrate']);
    expect(argv).toContain('--import');
  });

  it('lists every service in its help', async () => {
    const { stdout } = await execFile('sh', [ENTRYPOINT, 'help'], { cwd: ROOT });
    for (const name of SERVICES) expect(stdout).toMatch(new RegExp(`^\\s+${name}$`, 'm'));
  });

  it('refuses unknown names and paths', async () => {
    for (const bad of ['no-such-service', '../gateway', 'services/gateway']) {
      expect(await exitCode(entrypointDryRun(bad))).toBe(2);
    }
  });
});

describe('docker/healthcheck.cjs', () => {
  it.each(SERVICES)('probes %s on its default port', async (name) => {
    const { stdout } = await execFile('node', [HEALTHCHECK, '--print-port'], {
      env: envWithoutPorts({ HERALD_SERVICE: name }),
    });
    expect(Number(stdout.trim())).toBe(defaultPort(name));
  });

  it.each(SERVICES)('follows the port variable %s reads', async (name) => {
    const { stdout } = await execFile('node', [HEALTHCHECK, '--print-port'], {
      env: envWithoutPorts({ HERALD_SERVICE: name, [portVariable(name)]: '4567' }),
    });
    expect(stdout.trim()).toBe('4567');
  });

  it('is healthy only when /healthz answers 200', async () => {
    let status = 200;
    const server = http.createServer((req, res) => {
      res.writeHead(req.url === '/healthz' ? status : 404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const probe = () =>
      exitCode(
        execFile('node', [HEALTHCHECK], {
          env: envWithoutPorts({ HERALD_SERVICE: 'gateway', PORT: String(port) }),
        }),
      );
    try {
      expect(await probe()).toBe(0);
      status = 503;
      expect(await probe()).toBe(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await probe()).toBe(1); // nothing listening any more
  });
});

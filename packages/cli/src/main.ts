import { parseArgs } from 'node:util';
import { mintToken, SCOPES } from '@herald/api';
import {
  ConfigError,
  EXIT_CONFIG,
  loadMigrateConfig,
  loadStartConfig,
  loadTokenConfig,
  type Env,
  type MigrateConfig,
} from '@herald/core';
import { ensureDatabase, runMigrations } from '@herald/db';
import { ensureLocalSecrets, loadLocalEnv, ROOT } from './local-env';
import { discoverServices } from './services';
import { Supervisor } from './supervisor';

const USAGE = `usage: herald <command>

  start                      apply migrations, then run every service (supervised)
  migrate                    create the database if missing and apply migrations
  token --sub S --scope "A B" [--ttl 1h] [--key private.pem --alg RS256|ES256]
                             print a service token (HS256 with JWT_SECRET by default)
`;

const say = (message: string) => process.stderr.write(`herald: ${message}\n`);

/**
 * The command's variables, parsed as the services parse theirs: a bad value
 * stops here with a message naming it (exit 78), never later as a crash.
 */
function configOrExit<C>(load: (env: Env) => C): C {
  try {
    return load(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      say(err.message);
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }
}

async function migrate({ databaseUrl }: MigrateConfig): Promise<void> {
  try {
    await ensureDatabase(databaseUrl);
    const result = await runMigrations(databaseUrl, { log: say });
    say(
      `database ready (${result.applied.length} applied, ${result.alreadyApplied.length} already applied)`,
    );
  } catch (err) {
    // The URL was validated; name the server and database, never the password.
    const { host, pathname } = new URL(databaseUrl);
    say(`cannot migrate ${host}${pathname}: ${(err as Error).message}`);
    process.exit(1);
  }
}

async function start(): Promise<void> {
  loadLocalEnv();
  const config = configOrExit(loadStartConfig);
  // The services inherit this environment: a .env made now must be loaded into it.
  if (ensureLocalSecrets(config.jwtKeyConfigured, say)) loadLocalEnv();
  await migrate(config);
  const services = discoverServices(ROOT);
  say(`starting ${services.map((s) => s.name).join(', ')}`);
  const supervisor = new Supervisor(services, { noRestartExitCode: EXIT_CONFIG });
  supervisor.start();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      say('stopping services');
      void supervisor.stop().then(() => process.exit(0));
    });
  }
}

async function token(args: string[]): Promise<void> {
  loadLocalEnv();
  const config = configOrExit(loadTokenConfig);
  const { values } = parseArgs({
    args,
    options: {
      sub: { type: 'string' },
      scope: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
      key: { type: 'string' },
      alg: { type: 'string', default: 'RS256' },
    },
  });
  if (!values.sub || !values.scope) {
    say('token needs --sub and --scope');
    process.exit(2);
  }
  const scopes = values.scope.split(/\s+/).filter(Boolean);
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0) {
    say(`unknown scope ${unknown.join(', ')}; known: ${SCOPES.join(' ')}`);
    process.exit(2);
  }
  let key: Parameters<typeof mintToken>[0]['key'];
  if (values.key) {
    if (values.alg !== 'RS256' && values.alg !== 'ES256') {
      say('--alg must be RS256 or ES256');
      process.exit(2);
    }
    const { readFileSync } = await import('node:fs');
    key = { privateKey: readFileSync(values.key, 'utf8'), algorithm: values.alg };
  } else if (config.secret) {
    key = { secret: config.secret };
  } else {
    say('set JWT_SECRET (or pass --key with a private key)');
    process.exit(2);
  }
  const ttl = /^\d+$/.test(values.ttl) ? Number(values.ttl) : values.ttl;
  try {
    process.stdout.write(
      `${mintToken({
        sub: values.sub,
        scopes,
        ttl,
        issuer: config.issuer,
        audience: config.audience,
        key,
      })}\n`,
    );
  } catch (err) {
    say(`cannot sign: ${(err as Error).message}`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === 'start') return start();
  if (command === 'migrate') {
    loadLocalEnv();
    return migrate(configOrExit(loadMigrateConfig));
  }
  if (command === 'token') return token(rest);
  process.stderr.write(USAGE);
  process.exit(command ? 2 : 0);
}

main().catch((err: unknown) => {
  say(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

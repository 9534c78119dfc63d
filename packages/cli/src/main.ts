import { parseArgs } from 'node:util';
import { mintToken, SCOPES } from '@herald/api';
import { EXIT_CONFIG } from '@herald/core';
import { ensureDatabase, runMigrations } from '@herald/db';
import { ensureLocalSecrets, loadLocalEnv, ROOT } from './local-env';
import { discoverServices } from './services';
import { Supervisor } from './supervisor';

const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/herald';

const USAGE = `usage: herald <command>

  start                      apply migrations, then run every service (supervised)
  migrate                    create the database if missing and apply migrations
  token --sub S --scope "A B" [--ttl 1h] [--key private.pem --alg RS256|ES256]
                             print a service token (HS256 with JWT_SECRET by default)
`;

const say = (message: string) => process.stderr.write(`herald: ${message}\n`);

async function migrate(): Promise<void> {
  const url = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  try {
    await ensureDatabase(url);
    const result = await runMigrations(url, { log: say });
    say(
      `database ready (${result.applied.length} applied, ${result.alreadyApplied.length} already applied)`,
    );
  } catch (err) {
    say(`cannot migrate ${new URL(url).host}${new URL(url).pathname}: ${(err as Error).message}`);
    process.exit(1);
  }
}

async function start(): Promise<void> {
  ensureLocalSecrets(say);
  await migrate();
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
  } else if (process.env.JWT_SECRET) {
    key = { secret: process.env.JWT_SECRET };
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
        issuer: process.env.JWT_ISSUER || 'herald',
        audience: process.env.JWT_AUDIENCE || 'herald-api',
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
    return migrate();
  }
  if (command === 'token') return token(rest);
  process.stderr.write(USAGE);
  process.exit(command ? 2 : 0);
}

void main();

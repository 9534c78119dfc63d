// A gateway rolled out before its migrations ran: /readyz says which are
// missing (so an orchestrator keeps it out of rotation) until `herald
// migrate` has run, then turns ready without a restart.
import { cpSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureDatabase, MIGRATIONS_DIR, runMigrations } from '@herald/db';
import {
  ADMIN_URL,
  deleteKeysWithPrefix,
  dropDatabase,
  uniqueQueuePrefix,
  waitFor,
  type ServiceProcess,
} from '@herald/testkit';
import { call, gatewayListening, spawnGateway } from './support/gateway-process';

describe('readiness when the database lacks a migration of this build', () => {
  const prefix = uniqueQueuePrefix();
  const name = `herald_behind_${process.pid}_${Date.now()}`;
  const url = (() => {
    const u = new URL(ADMIN_URL);
    u.pathname = `/${name}`;
    return u.toString();
  })();
  let gateway: ServiceProcess | undefined;

  afterAll(async () => {
    if (gateway) {
      gateway.kill('SIGKILL');
      await gateway.exited;
    }
    await deleteKeysWithPrefix(prefix);
    await dropDatabase(name);
  });

  it('answers 503 naming the missing migration, then ready once it is applied', async () => {
    // Every migration but the newest, as a database one release behind has.
    const shipped = readdirSync(MIGRATIONS_DIR, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    const newest = shipped.at(-1)!;
    const older = mkdtempSync(path.join(tmpdir(), 'herald-migrations-'));
    for (const migration of shipped.slice(0, -1)) {
      cpSync(path.join(MIGRATIONS_DIR, migration), path.join(older, migration), {
        recursive: true,
      });
    }
    await ensureDatabase(url);
    await runMigrations(url, { migrationsDir: older });

    gateway = spawnGateway({ DATABASE_URL: url, QUEUE_PREFIX: prefix });
    const port = await gatewayListening(gateway, 1);
    // Listening comes before the Redis connection is up; wait that out so
    // the schema is the only reason left to be unready.
    const behind = await waitFor(
      async () => {
        const answer = await call(port, 'GET', '/readyz');
        return JSON.parse(answer.text).checks?.redis === 'ok' && answer;
      },
      { what: 'the gateway connected to Redis' },
    );
    expect(behind.status).toBe(503);
    expect(JSON.parse(behind.text)).toEqual({
      status: 'unavailable',
      checks: {
        redis: 'ok',
        postgres: 'ok',
        schema: `1 migration not applied (${newest}): run herald migrate`,
      },
    });

    await runMigrations(url);
    await waitFor(async () => (await call(port, 'GET', '/readyz')).status === 200, {
      what: 'the gateway ready once migrated',
    });
  }, 120_000);
});

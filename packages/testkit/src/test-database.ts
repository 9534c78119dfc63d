import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import {
  createDatabase,
  ensureDatabase,
  MIGRATIONS_DIR,
  runMigrations,
  type Database,
} from '@herald/db';

export const ADMIN_URL =
  process.env.TEST_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

function urlFor(database: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

/** The template's name changes whenever a migration does, so stale templates are never used. */
export function templateDatabaseName(): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(MIGRATIONS_DIR).sort()) {
    const file = path.join(MIGRATIONS_DIR, name, 'migration.sql');
    try {
      hash.update(name).update(readFileSync(file));
    } catch {
      // not a migration directory
    }
  }
  return `herald_tpl_${hash.digest('hex').slice(0, 12)}`;
}

/** Creates and migrates the template database once (jest global setup). */
export async function prepareTemplateDatabase(): Promise<string> {
  const name = templateDatabaseName();
  const url = urlFor(name);
  await ensureDatabase(url);
  await runMigrations(url);
  return name;
}

/**
 * Which jest run a test database belongs to (set by the global setup), so a
 * run's teardown drops its own leftovers and never the live databases of
 * another run sharing this Postgres.
 */
export function testRunId(): string {
  return process.env.HERALD_TEST_RUN ?? 'adhoc';
}

export interface TestDatabase {
  url: string;
  name: string;
  db: Database;
  drop(): Promise<void>;
}

/**
 * A fresh database per test file, cloned from the migrated template (fast:
 * a file copy, no migrations). Drop it in afterAll.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const template = templateDatabaseName();
  const name = `herald_t_${testRunId()}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
        break;
      } catch (err) {
        // 55006: the template is briefly in use (another file cloning it).
        if ((err as { code?: string }).code !== '55006' || attempt > 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    await admin.end();
  }
  const url = urlFor(name);
  const db = createDatabase(url, { max: 10 });
  return {
    url,
    name,
    db,
    async drop() {
      await db.close();
      await dropDatabase(name);
    },
  };
}

export async function dropDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

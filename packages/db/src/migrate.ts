import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';

/** prisma/migrations at the repository root. */
export const MIGRATIONS_DIR = path.resolve(__dirname, '..', '..', '..', 'prisma', 'migrations');

/** The advisory lock id `prisma migrate deploy` takes, so the two never run at once. */
const PRISMA_MIGRATE_LOCK_ID = 72707369;

export interface MigrationResult {
  applied: string[];
  alreadyApplied: string[];
}

export interface MigrateOptions {
  migrationsDir?: string;
  log?: (message: string) => void;
}

interface LocalMigration {
  name: string;
  sql: string;
  checksum: string;
}

async function readLocalMigrations(dir: string): Promise<LocalMigration[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/**
 * A readiness check that the database has every migration this build ships,
 * so a service rolled out before `herald migrate` ran says so (not ready,
 * naming what is missing) instead of failing requests on a table or column
 * that is not there yet. Once the schema is current it stops asking.
 */
export function createSchemaCheck(
  pool: Pick<pg.Pool, 'query'>,
  dir = MIGRATIONS_DIR,
): () => Promise<void> {
  let current = false;
  return async () => {
    if (current) return;
    const local = await readLocalMigrations(dir).catch((err: { code?: string }) => {
      // A build without its migrations (a custom image) cannot tell: not a reason to stay unready.
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    const shipped = local.map((m) => m.name);
    if (shipped.length === 0) {
      current = true;
      return;
    }
    const applied = await pool
      .query<{ migration_name: string }>(
        `SELECT migration_name FROM "_prisma_migrations"
         WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
      )
      .then(
        ({ rows }) => new Set(rows.map((r) => r.migration_name)),
        (err: { code?: string }) => {
          if (err.code === '42P01') return new Set<string>(); // no migration ever ran
          throw err;
        },
      );
    const missing = shipped.filter((name) => !applied.has(name));
    if (missing.length > 0) {
      throw new Error(
        `${missing.length} migration${missing.length === 1 ? '' : 's'} not applied ` +
          `(${missing.join(', ')}): run herald migrate`,
      );
    }
    current = true;
  };
}

/** Creates the database named in the URL when it does not exist yet. */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (name === '') return;
  url.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await admin.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`).catch((err: unknown) => {
        // Another process created it between our check and our CREATE
        // (42P04 duplicate_database, or 23505 when both CREATEs raced).
        const code = (err as { code?: string }).code;
        if (code !== '42P04' && code !== '23505') throw err;
      });
    }
  } finally {
    await admin.end();
  }
}

/**
 * Applies prisma/migrations in order and records them in `_prisma_migrations`
 * exactly as `prisma migrate deploy` does (same table, checksum and lock), so
 * production may use either tool. Each migration runs in its own transaction.
 */
export async function runMigrations(
  databaseUrl: string,
  options: MigrateOptions = {},
): Promise<MigrationResult> {
  const dir = options.migrationsDir ?? MIGRATIONS_DIR;
  const log = options.log ?? (() => {});
  const local = await readLocalMigrations(dir);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK_ID]);
    await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY NOT NULL,
      "checksum" VARCHAR(64) NOT NULL,
      "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL,
      "logs" TEXT,
      "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
      "applied_steps_count" INTEGER NOT NULL DEFAULT 0
    )`);
    const { rows } = await client.query<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      rolled_back_at: Date | null;
    }>(
      'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at',
    );
    const failed = rows.find((r) => r.finished_at === null && r.rolled_back_at === null);
    if (failed) {
      throw new Error(
        `migration ${failed.migration_name} failed earlier; resolve it before applying more (prisma migrate resolve)`,
      );
    }
    const done = new Map(
      rows.filter((r) => r.finished_at !== null).map((r) => [r.migration_name, r]),
    );
    const result: MigrationResult = { applied: [], alreadyApplied: [] };
    for (const migration of local) {
      const previous = done.get(migration.name);
      if (previous) {
        if (previous.checksum !== migration.checksum) {
          log(`warning: migration ${migration.name} was modified after it was applied`);
        }
        result.alreadyApplied.push(migration.name);
        continue;
      }
      await applyOne(client, migration);
      log(`applied ${migration.name}`);
      result.applied.push(migration.name);
    }
    return result;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK_ID]).catch(() => {});
    await client.end();
  }
}

async function applyOne(client: pg.Client, migration: LocalMigration): Promise<void> {
  await client.query('BEGIN');
  try {
    const id = randomUUID();
    await client.query(
      'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())',
      [id, migration.checksum, migration.name],
    );
    await client.query(migration.sql);
    await client.query(
      'UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1',
      [id],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw new Error(`migration ${migration.name} failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

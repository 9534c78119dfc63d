import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import {
  concurrentIndexName,
  holdsSeveralStatements,
  runsOutsideTransaction,
} from './migration-sql';

/** prisma/migrations at the repository root. */
export const MIGRATIONS_DIR = path.resolve(__dirname, '..', '..', '..', 'prisma', 'migrations');

/** The advisory lock id `prisma migrate deploy` takes, so the two never run at once. */
const PRISMA_MIGRATE_LOCK_ID = 72707369;
const LOCK_POLL_MS = 250;

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
 * production may use either tool. Each migration runs in its own transaction,
 * except one that uses CONCURRENTLY (`CREATE INDEX CONCURRENTLY` on a busy
 * table, so writes go on while the index builds): Postgres refuses that in a
 * transaction block, so it runs outside one, as its migration's only
 * statement, and if it fails it is left recorded as failed, to be resolved by
 * hand like a failed `prisma migrate deploy` (the error says how).
 */
export async function runMigrations(
  databaseUrl: string,
  options: MigrateOptions = {},
): Promise<MigrationResult> {
  const dir = options.migrationsDir ?? MIGRATIONS_DIR;
  const log = options.log ?? (() => {});
  const local = await readLocalMigrations(dir);
  const client = new pg.Client({ connectionString: databaseUrl });
  // A dropped connection fails the query in flight; without a listener it would also crash the process.
  client.on('error', () => {});
  await client.connect();
  try {
    // Timeouts set on the role are for requests: one cancelling an index build
    // on deliveries half-way would leave an invalid index behind.
    await client.query('SET statement_timeout = 0; SET lock_timeout = 0');
    await takeMigrateLock(client);
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
    // A row marked rolled back does not count: the migration is applied again (a new row),
    // as prisma migrate deploy does and as createSchemaCheck expects.
    const done = new Map(
      rows
        .filter((r) => r.finished_at !== null && r.rolled_back_at === null)
        .map((r) => [r.migration_name, r]),
    );
    const result: MigrationResult = { applied: [], alreadyApplied: [] };
    const pending: LocalMigration[] = [];
    for (const migration of local) {
      const previous = done.get(migration.name);
      if (!previous) {
        pending.push(migration);
        continue;
      }
      if (previous.checksum !== migration.checksum) {
        log(`warning: migration ${migration.name} was modified after it was applied`);
      }
      result.alreadyApplied.push(migration.name);
    }
    // Refuse what cannot run before running anything, so a deploy never stops half-way.
    for (const migration of pending) {
      if (runsOutsideTransaction(migration.sql) && holdsSeveralStatements(migration.sql)) {
        throw new Error(
          `migration ${migration.name} uses CONCURRENTLY, so it runs outside a transaction, ` +
            'but it holds more than one statement, which Postgres would run as one transaction ' +
            '(and refuse): put the CONCURRENTLY statement in a migration of its own',
        );
      }
    }
    for (const migration of pending) {
      if (runsOutsideTransaction(migration.sql)) {
        await applyOutsideTransaction(client, migration);
      } else {
        await applyInTransaction(client, migration);
      }
      log(`applied ${migration.name}`);
      result.applied.push(migration.name);
    }
    return result;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK_ID]).catch(() => {});
    await client.end();
  }
}

/**
 * Polls for the lock rather than waiting in pg_advisory_lock: a runner waiting
 * inside that statement holds a snapshot, which a CREATE INDEX CONCURRENTLY run
 * by the lock's holder waits out, and Postgres breaks the deadlock by failing
 * one of them. Between polls a waiting runner holds nothing.
 */
async function takeMigrateLock(client: pg.Client): Promise<void> {
  for (;;) {
    const { rows } = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock($1) AS locked',
      [PRISMA_MIGRATE_LOCK_ID],
    );
    if (rows[0]?.locked) return;
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
  }
}

async function applyInTransaction(client: pg.Client, migration: LocalMigration): Promise<void> {
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

/**
 * As prisma migrate deploy applies every migration: recorded as started, its
 * one statement sent alone (no BEGIN), then recorded as finished. A failure
 * cannot be rolled back: the row stays unfinished with the error in `logs`,
 * and every later run refuses until someone resolves it.
 */
async function applyOutsideTransaction(
  client: pg.Client,
  migration: LocalMigration,
): Promise<void> {
  const id = randomUUID();
  await client.query(
    'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())',
    [id, migration.checksum, migration.name],
  );
  try {
    await client.query(migration.sql);
  } catch (err) {
    const { message, code, detail } = err as { message: string; code?: string; detail?: string };
    const error = detail ? `${message}\nDETAIL: ${detail}` : message;
    const logs = `Database error code: ${code ?? 'none'}\n\nDatabase error:\n${error}`;
    // Best effort: without its logs the row still blocks later runs, which is what matters.
    await client
      .query('UPDATE "_prisma_migrations" SET logs = $1 WHERE id = $2', [logs, id])
      .catch(() => {});
    const index = concurrentIndexName(migration.sql) ?? '<index name>';
    throw new Error(
      `migration ${migration.name} failed: ${message}. It ran outside a transaction (CONCURRENTLY), ` +
        'so nothing was rolled back and it stays recorded as failed. To recover: an invalid index ' +
        `may be left behind, drop it with DROP INDEX CONCURRENTLY IF EXISTS ${index}; ` +
        'then mark the migration rolled back with UPDATE "_prisma_migrations" SET rolled_back_at = now() ' +
        `WHERE migration_name = '${migration.name}' AND finished_at IS NULL ` +
        `(or prisma migrate resolve --rolled-back ${migration.name}), and run migrate again.`,
      { cause: err },
    );
  }
  await client.query(
    'UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1',
    [id],
  );
}

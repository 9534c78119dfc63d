import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { dropDatabase, ADMIN_URL, waitFor } from '@herald/testkit';
import { createSchemaCheck, ensureDatabase, MIGRATIONS_DIR, runMigrations } from './migrate';

const urlFor = (name: string) => {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
};

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** A temporary migrations directory holding `migrations` ([name, sql] pairs); add more later with addMigration. */
function migrationsDir(...migrations: [string, string][]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-migrations-'));
  for (const [name, sql] of migrations) addMigration(dir, name, sql);
  return dir;
}

function addMigration(dir: string, name: string, sql: string): void {
  mkdirSync(path.join(dir, name));
  writeFileSync(path.join(dir, name, 'migration.sql'), sql);
}

interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  applied_steps_count: number;
  logs: string | null;
}

const migrationRows = (url: string) =>
  query<MigrationRow>(url, 'SELECT * FROM "_prisma_migrations" ORDER BY started_at');

/** Whether each named index is valid (usable), by name; absent indexes are left out. */
async function indexValidity(url: string, ...names: string[]): Promise<Record<string, boolean>> {
  const rows = await query<{ name: string; indisvalid: boolean }>(
    url,
    `SELECT c.relname AS name, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE c.relname IN (${names.map((n) => `'${n}'`).join(', ')})`,
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.indisvalid]));
}

describe('migration runner', () => {
  const name = `herald_mig_${process.pid}_${Date.now()}`;
  const url = urlFor(name);

  afterAll(() => dropDatabase(name));

  it('creates the database and applies every migration, recorded as prisma migrate deploy does', async () => {
    await ensureDatabase(url);
    const result = await runMigrations(url);
    const expected = (await import('node:fs'))
      .readdirSync(MIGRATIONS_DIR, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    expect(result.applied).toEqual(expected);

    const rows = await query<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      applied_steps_count: number;
      rolled_back_at: Date | null;
    }>(url, 'SELECT * FROM "_prisma_migrations" ORDER BY migration_name');
    expect(rows.map((r) => r.migration_name)).toEqual(expected);
    for (const row of rows) {
      const sql = readFileSync(path.join(MIGRATIONS_DIR, row.migration_name, 'migration.sql'));
      expect(row.checksum).toBe(createHash('sha256').update(sql).digest('hex'));
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.rolled_back_at).toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }
  });

  it('is idempotent: a second run applies nothing and changes nothing', async () => {
    const before = await query(url, 'SELECT id, finished_at FROM "_prisma_migrations" ORDER BY id');
    const again = await runMigrations(url);
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied.length).toBe(before.length);
    expect(
      await query(url, 'SELECT id, finished_at FROM "_prisma_migrations" ORDER BY id'),
    ).toEqual(before);
  });

  it('lets concurrent runners apply each migration once (advisory lock)', async () => {
    const other = `${name}_race`;
    const otherUrl = urlFor(other);
    try {
      await Promise.all([ensureDatabase(otherUrl), ensureDatabase(otherUrl)]);
      const results = await Promise.all([
        runMigrations(otherUrl),
        runMigrations(otherUrl),
        runMigrations(otherUrl),
      ]);
      const appliedTotal = results.reduce((n, r) => n + r.applied.length, 0);
      expect(appliedTotal).toBe(results[0]!.applied.length + results[0]!.alreadyApplied.length);
      const rows = await query(otherUrl, 'SELECT migration_name FROM "_prisma_migrations"');
      expect(rows.length).toBe(appliedTotal);
    } finally {
      await dropDatabase(other);
    }
  });

  it('rolls back a failing migration, records nothing, and refuses to go past it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-migrations-'));
    mkdirSync(path.join(dir, '20990101000000_ok'));
    writeFileSync(
      path.join(dir, '20990101000000_ok', 'migration.sql'),
      'CREATE TABLE ok_table (id int);',
    );
    mkdirSync(path.join(dir, '20990102000000_broken'));
    writeFileSync(
      path.join(dir, '20990102000000_broken', 'migration.sql'),
      'CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;',
    );
    const broken = `${name}_broken`;
    const brokenUrl = urlFor(broken);
    try {
      await ensureDatabase(brokenUrl);
      await expect(runMigrations(brokenUrl, { migrationsDir: dir })).rejects.toThrow(
        /20990102000000_broken failed/,
      );
      const tables = await query<{ tablename: string }>(
        brokenUrl,
        "SELECT tablename FROM pg_tables WHERE tablename IN ('ok_table', 'half_done')",
      );
      expect(tables.map((t) => t.tablename)).toEqual(['ok_table']);
      const rows = await query<{ migration_name: string }>(
        brokenUrl,
        'SELECT migration_name FROM "_prisma_migrations"',
      );
      expect(rows.map((r) => r.migration_name)).toEqual(['20990101000000_ok']);
    } finally {
      await dropDatabase(broken);
    }
  });

  it('tells readiness checks when the schema is behind the build, naming what is missing', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-migrations-'));
    for (const [name, sql] of [
      ['20990101000000_one', 'CREATE TABLE one (id int);'],
      ['20990102000000_two', 'CREATE TABLE two (id int);'],
    ]) {
      mkdirSync(path.join(dir, name!));
      writeFileSync(path.join(dir, name!, 'migration.sql'), sql!);
    }
    const older = mkdtempSync(path.join(tmpdir(), 'herald-migrations-'));
    mkdirSync(path.join(older, '20990101000000_one'));
    writeFileSync(
      path.join(older, '20990101000000_one', 'migration.sql'),
      'CREATE TABLE one (id int);',
    );
    const behind = `${name}_behind`;
    const behindUrl = urlFor(behind);
    const pool = new pg.Pool({ connectionString: behindUrl, max: 1 });
    try {
      await ensureDatabase(behindUrl);
      const check = createSchemaCheck(pool, dir);
      // Nothing ever migrated: no _prisma_migrations table at all.
      await expect(check()).rejects.toThrow(
        '2 migrations not applied (20990101000000_one, 20990102000000_two): run herald migrate',
      );
      await runMigrations(behindUrl, { migrationsDir: older });
      await expect(check()).rejects.toThrow(
        '1 migration not applied (20990102000000_two): run herald migrate',
      );
      await runMigrations(behindUrl, { migrationsDir: dir });
      await expect(check()).resolves.toBeUndefined();
      // Current once, it asks no more (the database may go; the postgres check says so).
      await pool.end();
      await expect(check()).resolves.toBeUndefined();
      // A build that ships no migrations cannot tell, and does not hold readiness back.
      await expect(
        createSchemaCheck(pool, path.join(dir, 'no-such-directory'))(),
      ).resolves.toBeUndefined();
    } finally {
      await pool.end().catch(() => {});
      await dropDatabase(behind);
    }
  });

  it('warns when an applied migration was edited afterwards', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-migrations-'));
    mkdirSync(path.join(dir, '20990101000000_one'));
    const file = path.join(dir, '20990101000000_one', 'migration.sql');
    writeFileSync(file, 'CREATE TABLE one (id int);');
    const edited = `${name}_edited`;
    const editedUrl = urlFor(edited);
    try {
      await ensureDatabase(editedUrl);
      await runMigrations(editedUrl, { migrationsDir: dir });
      writeFileSync(file, 'CREATE TABLE one (id bigint);');
      const messages: string[] = [];
      const result = await runMigrations(editedUrl, {
        migrationsDir: dir,
        log: (m) => messages.push(m),
      });
      expect(result.applied).toEqual([]);
      expect(messages).toEqual([expect.stringMatching(/20990101000000_one was modified/)]);
    } finally {
      await dropDatabase(edited);
    }
  });

  describe('CONCURRENTLY migrations, applied outside a transaction', () => {
    const table = ['20990101000000_people', 'CREATE TABLE people (id int, email text);'] as const;

    /** A fresh database per test, dropped afterwards. */
    async function withDatabase(suffix: string, body: (url: string) => Promise<void>) {
      const database = `${name}_${suffix}`;
      try {
        await ensureDatabase(urlFor(database));
        await body(urlFor(database));
      } finally {
        await dropDatabase(database);
      }
    }

    it('builds the index, valid, and records the migration finished (DROP INDEX CONCURRENTLY too)', () =>
      withDatabase('concurrently', async (url) => {
        const index = [
          '20990102000000_people_email',
          '-- CreateIndex: CONCURRENTLY; people is busy, writes must go on.\n' +
            'CREATE INDEX CONCURRENTLY "people_email_idx" ON "people" ("email");\n\n',
        ] as const;
        const dir = migrationsDir([...table], [...index]);
        const result = await runMigrations(url, { migrationsDir: dir });
        expect(result.applied).toEqual([table[0], index[0]]);
        expect(await indexValidity(url, 'people_email_idx')).toEqual({ people_email_idx: true });
        expect(await migrationRows(url)).toEqual([
          expect.objectContaining({ migration_name: table[0], applied_steps_count: 1 }),
          {
            id: expect.any(String),
            migration_name: index[0],
            checksum: createHash('sha256').update(index[1]).digest('hex'),
            started_at: expect.any(Date),
            finished_at: expect.any(Date),
            rolled_back_at: null,
            applied_steps_count: 1,
            logs: null,
          },
        ]);

        const drop = '20990103000000_drop_people_email';
        addMigration(dir, drop, 'drop index concurrently people_email_idx;');
        expect(await runMigrations(url, { migrationsDir: dir })).toEqual({
          applied: [drop],
          alreadyApplied: [table[0], index[0]],
        });
        expect(await indexValidity(url, 'people_email_idx')).toEqual({});
      }));

    /**
     * Runs the migrations in `dir` while `open` holds a transaction that wrote
     * to people, and returns once the index build waits for it (or fails with
     * the runner's own error when it settles instead: in a transaction block,
     * CONCURRENTLY fails at once). `observer` is a spare connection.
     */
    async function startHeldBuild(url: string, dir: string, observer: pg.Client) {
      let settled = false;
      const migrating = runMigrations(url, { migrationsDir: dir }).finally(() => (settled = true));
      migrating.catch(() => {}); // the caller awaits it
      await waitFor(
        async () =>
          settled ||
          (
            await observer.query<{ phase: string }>(
              'SELECT phase FROM pg_stat_progress_create_index WHERE datname = current_database()',
            )
          ).rows[0]?.phase === 'waiting for writers before build',
        { what: 'the index build to wait for the open transaction' },
      );
      if (settled) await migrating;
      expect(settled).toBe(false);
      return { migrating, settled: () => settled };
    }

    /** people with a CONCURRENTLY index to add, a transaction on it held open, and a spare connection. */
    async function withHeldBuild(
      suffix: string,
      body: (url: string, dir: string, open: pg.Client, other: pg.Client) => Promise<void>,
    ) {
      await withDatabase(suffix, async (url) => {
        const dir = migrationsDir([...table]);
        await runMigrations(url, { migrationsDir: dir });
        addMigration(dir, ...peopleIdIndex);
        const open = new pg.Client({ connectionString: url });
        const other = new pg.Client({ connectionString: url });
        try {
          await Promise.all([open.connect(), other.connect()]);
          // A transaction that has written to the table and stays open: the build waits for it.
          await open.query('BEGIN');
          await open.query("INSERT INTO people VALUES (1, 'open@example.org')");
          await body(url, dir, open, other);
        } finally {
          await open.end().catch(() => {});
          await other.end().catch(() => {});
        }
      });
    }
    const peopleIdIndex = [
      '20990102000000_people_id',
      'CREATE INDEX CONCURRENTLY people_id_idx ON people (id);',
    ] as const;

    it('lets other connections write to the table while the index is built', () =>
      withHeldBuild('busy', async (url, dir, open, other) => {
        const build = await startHeldBuild(url, dir, other);
        // A plain CREATE INDEX waiting here would queue this write behind it, until lock_timeout.
        await other.query("SET lock_timeout = '5s'");
        await other.query("INSERT INTO people VALUES (2, 'other@example.org')");
        expect(build.settled()).toBe(false);

        await open.query('COMMIT');
        await build.migrating;
        expect(await indexValidity(url, 'people_id_idx')).toEqual({ people_id_idx: true });
        // The row written during the build is in the index: read it through the index.
        await other.query('SET enable_seqscan = off');
        const { rows } = await other.query<{ id: number }>(
          'SELECT id FROM people WHERE id IN (1, 2) ORDER BY id',
        );
        expect(rows.map((r) => r.id)).toEqual([1, 2]);
      }));

    it('lets another runner wait for the migrate lock without deadlocking the build', () =>
      withHeldBuild('queued', async (url, dir, open, other) => {
        const build = await startHeldBuild(url, dir, other);
        const second = runMigrations(url, { migrationsDir: dir });
        second.catch(() => {}); // awaited below
        await waitFor(
          async () =>
            (
              await other.query(
                `SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                 AND query LIKE '%advisory_lock%' AND pid <> pg_backend_pid()`,
              )
            ).rowCount === 1,
          { what: 'the second runner to wait for the migrate lock' },
        );
        // Once the build goes on, it waits out older snapshots: one held by a runner blocked in
        // pg_advisory_lock, itself waiting for the build's runner, would deadlock.
        await open.query('COMMIT');
        expect(await Promise.all([build.migrating, second])).toEqual([
          { applied: [peopleIdIndex[0]], alreadyApplied: [table[0]] },
          { applied: [], alreadyApplied: [table[0], peopleIdIndex[0]] },
        ]);
      }));

    it('refuses a CONCURRENTLY migration holding more than one statement, before running anything', () =>
      withDatabase('two_statements', async (url) => {
        const dir = migrationsDir(
          [...table],
          [
            '20990102000000_emails',
            'CREATE TABLE emails (address text);\n' +
              'CREATE INDEX CONCURRENTLY emails_address_idx ON emails (address);\n',
          ],
        );
        await expect(runMigrations(url, { migrationsDir: dir })).rejects.toThrow(
          /^migration 20990102000000_emails uses CONCURRENTLY.*more than one statement.*put the CONCURRENTLY statement in a migration of its own$/,
        );
        expect(await migrationRows(url)).toEqual([]);
        expect(
          await query(url, "SELECT 1 FROM pg_tables WHERE tablename IN ('people', 'emails')"),
        ).toEqual([]);
      }));

    it('leaves a failed one recorded as failed, says how to recover, and applies it once resolved', () =>
      withDatabase('failed', async (url) => {
        const unique = '20990102000000_people_email_unique';
        const dir = migrationsDir(
          [
            table[0],
            `${table[1]}\nINSERT INTO people VALUES (1, 'same@example.org'), (2, 'same@example.org');`,
          ],
          [unique, 'CREATE UNIQUE INDEX CONCURRENTLY people_email_key ON people (email);'],
        );
        const markRolledBack =
          'UPDATE "_prisma_migrations" SET rolled_back_at = now() ' +
          `WHERE migration_name = '${unique}' AND finished_at IS NULL`;

        const failure = await runMigrations(url, { migrationsDir: dir }).then(
          () => undefined,
          (err: Error) => err,
        );
        expect(failure?.message).toMatch(
          new RegExp(
            `^migration ${unique} failed: could not create unique index "people_email_key"`,
          ),
        );
        for (const recovery of [
          'DROP INDEX CONCURRENTLY IF EXISTS people_email_key',
          markRolledBack,
          `prisma migrate resolve --rolled-back ${unique}`,
          'run migrate again',
        ]) {
          expect(failure?.message).toContain(recovery);
        }
        // Nothing rolled back: the row stays unfinished with the error, the index invalid.
        expect((await migrationRows(url))[1]).toMatchObject({
          migration_name: unique,
          finished_at: null,
          rolled_back_at: null,
          applied_steps_count: 0,
          logs: expect.stringMatching(
            /23505[\s\S]*could not create unique index[\s\S]*DETAIL: Key/,
          ),
        });
        expect(await indexValidity(url, 'people_email_key')).toEqual({ people_email_key: false });

        await expect(runMigrations(url, { migrationsDir: dir })).rejects.toThrow(
          `migration ${unique} failed earlier`,
        );

        // The recovery the error gave, after fixing the data.
        await query(url, 'DROP INDEX CONCURRENTLY IF EXISTS people_email_key');
        await query(url, markRolledBack);
        await query(url, "UPDATE people SET email = 'other@example.org' WHERE id = 2");
        expect(await runMigrations(url, { migrationsDir: dir })).toEqual({
          applied: [unique],
          alreadyApplied: [table[0]],
        });
        expect(await indexValidity(url, 'people_email_key')).toEqual({ people_email_key: true });
        const rows = await migrationRows(url);
        expect(rows.slice(1)).toEqual([
          expect.objectContaining({
            migration_name: unique,
            finished_at: null,
            rolled_back_at: expect.any(Date),
          }),
          expect.objectContaining({
            migration_name: unique,
            finished_at: expect.any(Date),
            rolled_back_at: null,
            logs: null,
          }),
        ]);
        expect((await runMigrations(url, { migrationsDir: dir })).applied).toEqual([]);
      }));
  });

  it('applies again a finished migration whose row was marked rolled back, as prisma does', async () => {
    const dir = migrationsDir(['20990101000000_one', 'CREATE TABLE one (id int);']);
    const database = `${name}_rolled_back`;
    const databaseUrl = urlFor(database);
    try {
      await ensureDatabase(databaseUrl);
      await runMigrations(databaseUrl, { migrationsDir: dir });
      // Reverted by hand and marked so: the readiness check counts it missing, and so must migrate.
      await query(databaseUrl, 'DROP TABLE one');
      await query(databaseUrl, 'UPDATE "_prisma_migrations" SET rolled_back_at = now()');
      const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
      try {
        await expect(createSchemaCheck(pool, dir)()).rejects.toThrow('1 migration not applied');
      } finally {
        await pool.end();
      }
      expect((await runMigrations(databaseUrl, { migrationsDir: dir })).applied).toEqual([
        '20990101000000_one',
      ]);
      expect(
        await query(databaseUrl, "SELECT 1 FROM pg_tables WHERE tablename = 'one'"),
      ).toHaveLength(1);
    } finally {
      await dropDatabase(database);
    }
  });
});

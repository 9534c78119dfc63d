import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { dropDatabase, ADMIN_URL } from '@herald/testkit';
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
});

import pg from 'pg';
import { ADMIN_URL, testRunId } from './test-database';

/**
 * Drops test databases a crashed test file of this run left behind; other
 * runs' databases (possibly in use right now) are theirs to drop.
 */
export default async function globalTeardown(): Promise<void> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'herald\\_t\\_' || $1 || '\\_%'",
      [testRunId()],
    );
    for (const { datname } of rows) {
      await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}

import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/prisma/client';

export { PrismaClient } from './generated/prisma/client';
export type * from './generated/prisma/client';

/**
 * One pg pool per process, shared by the Prisma client (through the driver
 * adapter) and by the hot-path SQL that Prisma cannot express as one
 * statement (batched unnest updates, CTE inserts).
 *
 * That SQL is sent as unnamed statements on purpose: Postgres plans each run
 * for the tables as they are. A named (prepared) statement soon settles on a
 * cached generic plan fixed by the table sizes of its first runs, and unless
 * an ANALYZE invalidates it (autovacuum may be off, or lag), a ledger write
 * planned against a few thousand deliveries keeps scanning all of them once
 * there are a million.
 */
export interface Database {
  pool: pg.Pool;
  prisma: PrismaClient;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** Pool size; keep it modest, the hot paths batch. */
  max?: number;
  connectionTimeoutMillis?: number;
  applicationName?: string;
}

export function createDatabase(databaseUrl: string, options: DatabaseOptions = {}): Database {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5000,
    application_name: options.applicationName ?? 'herald',
  });
  // An idle client losing its connection must not crash the process.
  pool.on('error', () => {});
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    pool,
    prisma,
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

import type pg from 'pg';
import { IDEMPOTENCY_TTL_HOURS } from '@herald/db';

/** Idempotency keys older than their 24 h window are of no use: drop them, a batch at a time. */
export async function purgeExpiredIdempotencyKeys(pool: pg.Pool, limit = 10_000): Promise<number> {
  const result = await pool.query(
    `DELETE FROM idempotency_keys WHERE ctid IN (
       SELECT ctid FROM idempotency_keys
       WHERE created_at < now() - interval '${IDEMPOTENCY_TTL_HOURS} hours' LIMIT $1)`,
    [limit],
  );
  return result.rowCount ?? 0;
}

/**
 * The outboxes are queue tables: every accepted delivery (every campaign
 * page) is inserted and deleted moments later, leaving dead rows that every
 * relay pass would otherwise wade through. Autovacuum may be off,
 * or lag on a busy server; vacuuming this small table often is cheap. SKIP_LOCKED:
 * with several schedulers, one vacuum at a time is enough.
 */
export async function vacuumOutbox(pool: pg.Pool): Promise<void> {
  await pool.query('VACUUM (SKIP_LOCKED) outbox, campaign_outbox');
}

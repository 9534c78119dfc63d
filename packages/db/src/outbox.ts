import { Batcher } from '@herald/core';
import type pg from 'pg';

/**
 * Removes outbox entries once Redis has confirmed their jobs, in batches off
 * the request path. Losing an acknowledgement is harmless: the relay finds the
 * entry, sees the job already exists (job id = delivery id) and drops it.
 */
export class OutboxAcknowledger {
  private readonly batcher: Batcher<string>;

  constructor(pool: pg.Pool, onError?: (err: unknown) => void) {
    this.batcher = new Batcher(
      async (deliveryIds) => {
        await pool.query({
          text: 'DELETE FROM outbox WHERE delivery_id = ANY($1::uuid[])',
          values: [deliveryIds],
        });
      },
      { intervalMs: 20, maxBatch: 5000, onError },
    );
  }

  acknowledge(deliveryIds: readonly string[]): void {
    for (const id of deliveryIds) this.batcher.add(id).catch(() => {});
  }

  close(): Promise<void> {
    return this.batcher.close();
  }
}

export interface ClaimedOutboxEntry {
  id: string;
  deliveryId: string;
  queue: string;
  jobId: string;
  payload: unknown;
  availableAt: Date;
}

export interface ClaimOptions {
  /** Claim scheduled entries due within this horizon (enqueued with the remaining delay). */
  horizonMs: number;
  /** Entries due now are the gateway's to enqueue; take them only once they are this old. */
  graceMs: number;
  /** How long a claim holds before another relay may take the entry. */
  leaseMs: number;
  /** Entries to start from; the jobs they belong to are claimed whole (a few more entries). */
  limit: number;
}

/**
 * Claims outbox entries to enqueue: scheduled sends coming due, and entries
 * the gateway could not enqueue (Redis was away). FOR UPDATE SKIP LOCKED plus
 * a lease: N relays never take the same entry, and a relay that dies mid-way
 * only delays its entries by the lease. The claim commits before any enqueue.
 *
 * Entries are claimed a whole job at a time: a batch job rebuilt from part of
 * its entries would be enqueued under the batch's id, and BullMQ ignores an
 * add whose id exists, so a second part would be silently dropped. A job cut
 * by `limit` is completed from its other entries; a job another relay holds
 * part of is left to it (or to the next pass). A job's entries were written
 * together and share `available_at`, which keeps these lookups on its index.
 */
export async function claimOutbox(
  pool: pg.Pool,
  options: ClaimOptions,
): Promise<ClaimedOutboxEntry[]> {
  const { rows } = await pool.query<{
    id: string;
    delivery_id: string;
    queue: string;
    job_id: string;
    payload: unknown;
    available_at: Date;
  }>({
    text: `
WITH due AS (
  SELECT job_id, available_at FROM outbox
  WHERE available_at <= now() + ($1::int * interval '1 millisecond')
    AND (claimed_until IS NULL OR claimed_until < now())
    AND (available_at > created_at OR created_at < now() - ($2::int * interval '1 millisecond'))
  ORDER BY available_at, id
  LIMIT $4
  FOR UPDATE SKIP LOCKED
), jobs AS (
  SELECT DISTINCT job_id, available_at FROM due
), sizes AS (
  SELECT o.job_id, count(*) AS n FROM outbox o
  JOIN jobs j ON o.available_at = j.available_at AND o.job_id = j.job_id
  GROUP BY o.job_id
), members AS (
  SELECT o.id, o.job_id FROM outbox o
  JOIN jobs j ON o.available_at = j.available_at AND o.job_id = j.job_id
  WHERE o.claimed_until IS NULL OR o.claimed_until < now()
  FOR UPDATE OF o SKIP LOCKED
), whole AS (
  SELECT m.job_id FROM members m JOIN sizes s ON s.job_id = m.job_id
  GROUP BY m.job_id, s.n HAVING count(*) = s.n
)
UPDATE outbox o SET claimed_until = now() + ($3::int * interval '1 millisecond')
FROM members m WHERE o.id = m.id AND m.job_id IN (SELECT job_id FROM whole)
RETURNING o.id, o.delivery_id, o.queue, o.job_id, o.payload, o.available_at`,
    values: [options.horizonMs, options.graceMs, options.leaseMs, options.limit],
  });
  return rows.map((r) => ({
    id: r.id,
    deliveryId: r.delivery_id,
    queue: r.queue,
    jobId: r.job_id,
    payload: r.payload,
    availableAt: r.available_at,
  }));
}

/**
 * Drops entries whose job has already reached a worker: the delivery has an
 * attempt or has moved past queued. The gateway's acknowledgement of such an
 * entry was lost (Postgres blinked, or the gateway died between enqueue and
 * ack); the job ran and BullMQ removed it on completion, so enqueueing it
 * again would send it twice. Outbox entries are only ever written for new
 * deliveries, so either sign means Redis had the job. Looks only at the
 * entries the claim would take next; locked ones are skipped.
 */
export async function dropOutboxEntriesAlreadyRun(
  pool: pg.Pool,
  options: Pick<ClaimOptions, 'graceMs' | 'limit'>,
): Promise<number> {
  const { rowCount } = await pool.query({
    text: `
WITH next AS (
  -- The entries the claim would take next (bounded work however long the outbox).
  SELECT id, delivery_id FROM outbox
  WHERE available_at <= now()
    AND created_at < now() - ($1::int * interval '1 millisecond')
    AND (claimed_until IS NULL OR claimed_until < now())
  ORDER BY available_at, id
  LIMIT $2
  FOR UPDATE SKIP LOCKED
), stale AS (
  SELECT n.id FROM next n JOIN deliveries d ON d.id = n.delivery_id
  WHERE d.attempts_count > 0 OR d.status NOT IN ('pending', 'scheduled', 'queued')
)
DELETE FROM outbox WHERE id IN (SELECT id FROM stale)`,
    values: [options.graceMs, options.limit],
  });
  return rowCount ?? 0;
}

/**
 * Entries confirmed in Redis: removed from the outbox; their scheduled
 * deliveries become queued and their notifications dispatched.
 */
export async function completeOutbox(pool: pg.Pool, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await pool.query({
    text: `
WITH done AS (
  DELETE FROM outbox WHERE id = ANY($1::bigint[]) RETURNING delivery_id
), d AS (
  UPDATE deliveries SET status = 'queued', queued_at = now(), updated_at = now()
  WHERE id IN (SELECT delivery_id FROM done) AND status = 'scheduled'
  RETURNING notification_id
)
UPDATE notifications SET dispatched_at = now()
WHERE id IN (SELECT notification_id FROM d) AND dispatched_at IS NULL`,
    values: [ids],
  });
}

/** What waits in the Postgres outboxes for Redis: due entries and how long the oldest has waited. */
export interface OutboxBacklog {
  /** Notification jobs due now, not yet confirmed in Redis (counted up to OUTBOX_COUNT_CAP). */
  notifications: { due: number; oldestSeconds: number };
  /** Campaign fan-out pages written but not yet confirmed in Redis. */
  campaignPages: { due: number; oldestSeconds: number };
}

/** Counting stops here: the gauge says "a lot" without a scrape reading millions of rows. */
export const OUTBOX_COUNT_CAP = 100_000;

/**
 * The outboxes' backlog, for the scheduler's gauges. Normally a handful of
 * entries a few milliseconds old (accepted, not yet acknowledged); a growing
 * age means Redis is away, the relay is not running, or an entry cannot be
 * enqueued. Scheduled sends not yet due do not count. Cheap at any size:
 * the oldest comes off the available_at index, the count stops at the cap.
 */
export async function readOutboxBacklog(pool: pg.Pool): Promise<OutboxBacklog> {
  const { rows } = await pool.query<{
    due: number;
    oldest: number | null;
    pages: number;
    oldest_page: number | null;
  }>({
    text: `SELECT
  (SELECT count(*) FROM (SELECT 1 FROM outbox WHERE available_at <= now() LIMIT $1) d)::int AS due,
  (SELECT extract(epoch FROM now() - min(available_at)) FROM outbox)::float8 AS oldest,
  (SELECT count(*) FROM (SELECT 1 FROM campaign_outbox LIMIT $1) p)::int AS pages,
  (SELECT extract(epoch FROM now() - min(created_at)) FROM campaign_outbox)::float8 AS oldest_page`,
    values: [OUTBOX_COUNT_CAP],
  });
  const r = rows[0]!;
  return {
    notifications: { due: r.due, oldestSeconds: Math.max(0, r.oldest ?? 0) },
    campaignPages: { due: r.pages, oldestSeconds: Math.max(0, r.oldest_page ?? 0) },
  };
}

import type pg from 'pg';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '@herald/core';
import { firstIdAt } from '@herald/db';

const DAY_MS = 86_400_000;

/**
 * Deletes up to `limit` notifications made before `olderThan` whose every
 * delivery is settled (sent, failed, cancelled or skipped), oldest first; the
 * foreign keys take their deliveries and attempts with them. A notification
 * with a delivery still scheduled, queued or sending stays, whatever its age.
 * Campaign rows, with their counts, stay. SKIP LOCKED: two schedulers purge
 * different rows and never wait for each other or for a worker's update.
 */
export async function purgeSettledNotifications(
  pool: pg.Pool,
  olderThan: Date,
  limit = 1000,
): Promise<number> {
  const result = await pool.query(
    `WITH doomed AS (
       SELECT n.id FROM notifications n
       WHERE n.id < $1::uuid AND n.created_at < $2
         AND NOT EXISTS (
           SELECT 1 FROM deliveries d
           WHERE d.notification_id = n.id
             AND d.status NOT IN ('sent', 'failed', 'cancelled', 'skipped'))
       ORDER BY n.id
       LIMIT $3
       FOR UPDATE OF n SKIP LOCKED
     )
     DELETE FROM notifications WHERE id IN (SELECT id FROM doomed)`,
    [firstIdAt(olderThan), olderThan, limit],
  );
  return result.rowCount ?? 0;
}

export interface RetentionOptions {
  pool: pg.Pool;
  /** Keep notifications this many days (RETENTION_DAYS). */
  days: number;
  log: Logger;
  registry?: Registry;
  /** Time between purge passes. */
  intervalMs?: number;
  /** Notifications per statement: short transactions, short locks. */
  batchSize?: number;
  now?: () => Date;
}

/**
 * Purges settled notifications older than the retention, on its own timer so
 * that a large backlog (retention switched on for a year of history) never
 * holds up the relay and the fan-out: each pass deletes batch after batch
 * until a batch comes back short, then waits for the next pass.
 */
export class RetentionPurger {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly purged: Counter | undefined;

  constructor(private readonly options: RetentionOptions) {
    this.purged = options.registry
      ? new Counter({
          name: 'herald_notifications_purged_total',
          help: 'Settled notifications deleted (with their deliveries and attempts) past RETENTION_DAYS.',
          registers: [options.registry],
        })
      : undefined;
  }

  start(): void {
    this.schedule(0);
  }

  /** One pass: batches until one comes back short. Returns how many were purged. */
  async runOnce(): Promise<number> {
    const { pool, days, batchSize = 1000 } = this.options;
    const olderThan = new Date((this.options.now?.() ?? new Date()).getTime() - days * DAY_MS);
    let total = 0;
    while (!this.stopped) {
      const n = await purgeSettledNotifications(pool, olderThan, batchSize);
      total += n;
      this.purged?.inc(n);
      if (n < batchSize) break;
    }
    if (total > 0)
      this.options.log.info({ purged: total, olderThan }, 'retention: notifications purged');
    return total;
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.runOnce()
        .then(
          () => undefined,
          (err: unknown) => this.options.log.error({ err }, 'retention pass failed'),
        )
        .then(() => this.schedule(this.options.intervalMs ?? 60_000));
    }, delayMs);
  }
}

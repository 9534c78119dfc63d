import { Batcher, enqueueJobs, type Logger, type PlannedJob, type RetryConfig } from '@herald/core';
import {
  insertNotifications,
  type AcceptedNotification,
  type OutboxAcknowledger,
} from '@herald/db';
import type { Queue } from 'bullmq';
import type pg from 'pg';

export type InsertOutcome = { inserted: boolean } | { error: unknown };

/** Splits items into rounds in which no idempotency key appears twice (one statement cannot claim a key twice). */
function rounds(items: readonly AcceptedNotification[]): number[][] {
  const result: number[][] = [];
  const seen: Set<string>[] = [];
  items.forEach((item, index) => {
    const key = item.idempotency
      ? `${item.idempotency.owner}\u0000${item.idempotency.key}`
      : undefined;
    let round = key === undefined ? 0 : seen.findIndex((keys) => !keys.has(key));
    if (round === -1) round = seen.length;
    seen[round] ??= new Set();
    result[round] ??= [];
    if (key !== undefined) seen[round]!.add(key);
    result[round]!.push(index);
  });
  return result;
}

/**
 * Group commit for single sends: notifications accepted concurrently are
 * written in one statement (one transaction, one round trip) instead of one
 * each; a caller waits at most for the statement in flight. A statement that
 * fails is retried item by item, so one bad item fails alone.
 */
export function createInsertBatcher(pool: pg.Pool): Batcher<AcceptedNotification, InsertOutcome> {
  return new Batcher<AcceptedNotification, InsertOutcome>(
    async (items) => {
      const outcomes: InsertOutcome[] = new Array(items.length);
      for (const round of rounds(items)) {
        const batch = round.map((i) => items[i]!);
        try {
          const inserted = await insertNotifications(pool, batch);
          round.forEach(
            (i) => (outcomes[i] = { inserted: inserted.has(items[i]!.notification.id) }),
          );
        } catch (err) {
          if (round.length === 1) {
            outcomes[round[0]!] = { error: err };
            continue;
          }
          for (const i of round) {
            try {
              const inserted = await insertNotifications(pool, [items[i]!]);
              outcomes[i] = { inserted: inserted.has(items[i]!.notification.id) };
            } catch (single) {
              outcomes[i] = { error: single };
            }
          }
        }
      }
      return outcomes;
    },
    { intervalMs: 0, maxBatch: 200 },
  );
}

/**
 * Jobs of concurrent sends go to Redis together (one addBulk per queue).
 * Never rejects: what Redis does not confirm stays in the outbox for the relay.
 */
export function createEnqueueBatcher(deps: {
  queues: Map<string, Queue>;
  retry: RetryConfig;
  outboxAck: OutboxAcknowledger;
  log: Logger;
}): Batcher<PlannedJob> {
  return new Batcher<PlannedJob>(
    async (jobs) => {
      const { enqueued, failed } = await enqueueJobs(deps.queues, jobs, deps.retry);
      deps.outboxAck.acknowledge(enqueued);
      for (const f of failed)
        deps.log.warn(
          { err: f.error, queue: f.queue },
          'enqueue failed; the outbox relay will retry',
        );
    },
    { intervalMs: 0, maxBatch: 500 },
  );
}

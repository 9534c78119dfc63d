import { Batcher, enqueueJobs, type Logger, type PlannedJob, type RetryConfig } from '@herald/core';
import {
  groupOutboxJobs,
  insertNotifications,
  type IdempotencyClaim,
  type NewNotification,
  type OutboxAcknowledger,
  type OutboxJob,
  type UngroupedOutboxJob,
} from '@herald/db';
import type { Queue } from 'bullmq';
import type pg from 'pg';

/** A single send as planned, its deliveries not yet grouped into jobs. */
export interface SingleAccept {
  notification: NewNotification;
  outbox: UngroupedOutboxJob[];
  idempotency?: IdempotencyClaim;
}

/**
 * What became of a single send: written (or not, its idempotency key being
 * taken), with `dispatched` settling once its jobs went to Redis (or were
 * left to the outbox relay); or the error that refused it.
 */
export type InsertOutcome = { inserted: boolean; dispatched: Promise<void> } | { error: unknown };

/** Splits items into rounds in which no idempotency key appears twice (one statement cannot claim a key twice). */
function rounds(items: readonly SingleAccept[]): number[][] {
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
 * Writes one round in one statement. Deliveries of sends without an
 * idempotency key share jobs (what arrives together travels together: one
 * Redis job, not one each); a keyed send keeps jobs of its own, since it may
 * turn out to be a replay that writes nothing. Resolves with the notifications
 * written and the jobs to enqueue for them.
 */
async function insertRound(
  pool: pg.Pool,
  items: readonly SingleAccept[],
): Promise<{ inserted: Set<string>; due: PlannedJob[] }> {
  const groups = [
    items.filter((i) => !i.idempotency),
    ...items.filter((i) => i.idempotency).map((i) => [i]),
  ].filter((g) => g.length > 0);
  const rowOf = new Map<string, OutboxJob>();
  const planned = groups.map((group) => {
    const { rows, due } = groupOutboxJobs(group.flatMap((i) => i.outbox));
    for (const row of rows) rowOf.set(row.deliveryId, row);
    return { group, due };
  });
  const inserted = await insertNotifications(
    pool,
    items.map((i) => ({
      notification: i.notification,
      outbox: i.outbox.map((o) => rowOf.get(o.deliveryId)!),
      idempotency: i.idempotency,
    })),
  );
  const due = planned.flatMap(({ group, due: jobs }) =>
    group.every((i) => inserted.has(i.notification.id)) ? jobs : [],
  );
  return { inserted, due };
}

/**
 * Group commit for single sends: notifications accepted concurrently are
 * written in one statement (one transaction, one round trip) instead of one
 * each, and their deliveries grouped into shared jobs; a caller waits at most
 * for the statement in flight. The enqueue runs alongside the next statement
 * (`dispatched`). A statement that fails is retried item by item, so one bad
 * item fails alone.
 */
export function createInsertBatcher(
  pool: pg.Pool,
  dispatch: (jobs: readonly PlannedJob[]) => Promise<void>,
): Batcher<SingleAccept, InsertOutcome> {
  return new Batcher<SingleAccept, InsertOutcome>(
    async (items) => {
      const outcomes: InsertOutcome[] = new Array(items.length);
      const settle = (indexes: number[], result: { inserted: Set<string>; due: PlannedJob[] }) => {
        const dispatched = dispatch(result.due);
        for (const i of indexes)
          outcomes[i] = { inserted: result.inserted.has(items[i]!.notification.id), dispatched };
      };
      for (const round of rounds(items)) {
        try {
          settle(
            round,
            await insertRound(
              pool,
              round.map((i) => items[i]!),
            ),
          );
        } catch (err) {
          if (round.length === 1) {
            outcomes[round[0]!] = { error: err };
            continue;
          }
          for (const i of round) {
            try {
              settle([i], await insertRound(pool, [items[i]!]));
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

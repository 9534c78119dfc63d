import type { Queue } from 'bullmq';
import {
  enqueueJobs,
  batchJobData,
  parseLaneQueueName,
  type Logger,
  type PlannedJob,
  type RetryConfig,
} from '@herald/core';
import {
  claimOutbox,
  completeOutbox,
  dropOutboxEntriesAlreadyRun,
  type ClaimedOutboxEntry,
} from '@herald/db';
import type pg from 'pg';

export interface OutboxRelayOptions {
  /** Scheduled sends due within this window go to Redis as delayed jobs (the rest wait in Postgres). */
  horizonMs?: number;
  /** The gateway's own enqueue gets this long before the relay steps in. */
  graceMs?: number;
  leaseMs?: number;
  batchSize?: number;
}

/** Rebuilds the BullMQ jobs of claimed entries, under the job ids they were planned with. */
export function jobsFromOutbox(entries: readonly ClaimedOutboxEntry[], now: number): PlannedJob[] {
  const byJob = new Map<string, ClaimedOutboxEntry[]>();
  for (const entry of entries) byJob.set(entry.jobId, [...(byJob.get(entry.jobId) ?? []), entry]);
  const jobs: PlannedJob[] = [];
  for (const [jobId, group] of byJob) {
    const first = group[0]!;
    const parsed = parseLaneQueueName(first.queue);
    if (!parsed) continue;
    const single = group.length === 1 && jobId === first.deliveryId;
    jobs.push({
      jobId,
      queue: first.queue,
      lane: parsed.lane,
      data: single
        ? first.payload
        : batchJobData(
            parsed.channel,
            parsed.lane,
            group.map((e) => e.payload),
          ),
      deliveryIds: group.map((e) => e.deliveryId),
      delayMs: Math.max(0, first.availableAt.getTime() - now),
    });
  }
  return jobs;
}

/**
 * Moves jobs from the Postgres outbox to Redis: scheduled sends as they come
 * due, and whatever the gateway could not enqueue. Safe with N replicas:
 * claims use SKIP LOCKED and a lease, job ids make a repeated enqueue a no-op.
 */
export function createOutboxRelay(deps: {
  pool: pg.Pool;
  queues: Map<string, Queue>;
  retry: RetryConfig;
  log: Logger;
  options?: OutboxRelayOptions;
}) {
  const options = {
    horizonMs: 5000,
    graceMs: 10_000,
    leaseMs: 60_000,
    batchSize: 1000,
    ...deps.options,
  };
  return {
    /** One pass; resolves with how many entries went to Redis. */
    async runOnce(): Promise<number> {
      const dropped = await dropOutboxEntriesAlreadyRun(deps.pool, {
        graceMs: options.graceMs,
        limit: options.batchSize,
      });
      if (dropped > 0)
        deps.log.info({ dropped }, 'dropped outbox entries whose jobs already ran (lost acks)');
      const claimed = await claimOutbox(deps.pool, {
        horizonMs: options.horizonMs,
        graceMs: options.graceMs,
        leaseMs: options.leaseMs,
        limit: options.batchSize,
      });
      if (claimed.length === 0) return 0;
      const jobs = jobsFromOutbox(claimed, Date.now());
      const { enqueued, failed } = await enqueueJobs(deps.queues, jobs, deps.retry, 10_000);
      for (const f of failed)
        deps.log.warn(
          { err: f.error, queue: f.queue },
          'relay could not enqueue; the lease will expire and it retries',
        );
      const done = new Set(enqueued);
      await completeOutbox(
        deps.pool,
        claimed.filter((c) => done.has(c.deliveryId)).map((c) => c.id),
      );
      return done.size;
    },
  };
}

export type OutboxRelay = ReturnType<typeof createOutboxRelay>;

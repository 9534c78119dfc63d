import type { Queue } from 'bullmq';
import {
  enqueueJobs,
  keepDeliveries,
  parseLaneQueueName,
  type Logger,
  type PlannedJob,
  type RetryConfig,
} from '@herald/core';
import {
  claimCampaignPages,
  releaseCampaignPage,
  stillQueued,
  type CampaignOutboxJob,
} from '@herald/db';
import type pg from 'pg';

/**
 * How long Redis remembers a campaign page job's id after taking it. A page
 * row outlives its enqueue when the fan-out dies between Redis confirming the
 * page and Postgres deleting the row; the relay then enqueues it again once
 * the claim runs out (a minute). By then the jobs may have run and been
 * removed, and a worker may have put some members back under new job ids
 * (paused, deferred): enqueued again, the old job would hand those members to
 * a second worker. Within this time the repeated enqueue is refused instead.
 */
export const CAMPAIGN_JOB_DEDUPE_MS = 3_600_000;

export interface CampaignPageRelayOptions {
  /** How long a claimed page is this relay's before another may take it. */
  leaseMs?: number;
  /** Pages (each up to a fan-out page of deliveries) claimed per pass. */
  batchSize?: number;
}

/**
 * What of a stored job still has to be sent, under its own id and not before
 * its time: members settled meanwhile (sent by a job that did reach Redis,
 * cancelled, erased) are left out.
 */
export function pendingPartOf(
  job: CampaignOutboxJob,
  queued: ReadonlySet<string>,
  now: number,
): PlannedJob | undefined {
  const parsed = parseLaneQueueName(job.queue);
  const part = keepDeliveries(job, queued);
  if (!parsed || !part) return undefined;
  return {
    jobId: job.jobId,
    queue: job.queue,
    lane: parsed.lane,
    data: part.data,
    deliveryIds: part.deliveryIds,
    delayMs: Math.max(0, job.at - now),
    dedupeForMs: CAMPAIGN_JOB_DEDUPE_MS,
  };
}

/**
 * Enqueues the campaign pages the fan-out could not (Redis failed, or the
 * process died between its commit and its enqueue), once their claim ran out.
 * Safe with N replicas: claims use SKIP LOCKED and a lease, and job ids make a
 * repeated enqueue a no-op.
 */
export function createCampaignPageRelay(deps: {
  pool: pg.Pool;
  queues: Map<string, Queue>;
  retry: RetryConfig;
  log: Logger;
  options?: CampaignPageRelayOptions;
}) {
  const leaseMs = deps.options?.leaseMs ?? 60_000;
  const batchSize = deps.options?.batchSize ?? 20;
  return {
    /** One pass; resolves with how many deliveries went to Redis. */
    async runOnce(): Promise<number> {
      const pages = await claimCampaignPages(deps.pool, { leaseMs, limit: batchSize });
      if (pages.length === 0) return 0;
      const queued = await stillQueued(
        deps.pool,
        pages.flatMap((page) => page.jobs.flatMap((job) => job.deliveryIds)),
      );
      const now = Date.now();
      let relayed = 0;
      for (const page of pages) {
        const jobs = page.jobs.flatMap((job) => pendingPartOf(job, queued, now) ?? []);
        const { enqueued, failed } = await enqueueJobs(deps.queues, jobs, deps.retry, 10_000);
        for (const f of failed)
          deps.log.warn(
            { err: f.error, queue: f.queue, campaignId: page.campaignId },
            'relay could not enqueue a campaign page; the lease will expire and it retries',
          );
        if (failed.length === 0) await releaseCampaignPage(deps.pool, page.id);
        relayed += enqueued.length;
      }
      return relayed;
    },
  };
}

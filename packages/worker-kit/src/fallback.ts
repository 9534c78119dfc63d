import type { Queue } from 'bullmq';
import {
  deliveryJobOptions,
  deliveryJobSchema,
  laneQueueName,
  type DeliveriesCounter,
  type DeliveryJob,
  type Logger,
  type RetryConfig,
} from '@herald/core';
import type { DeliveryLedger } from '@herald/db';

/**
 * strategy "fallback": each job carries the jobs to try after it. When it
 * fails for good the next one is enqueued (carrying the rest); when it is
 * sent the rest are skipped.
 */
export function createFallbackChain(deps: {
  queues: Map<string, Queue>;
  retry: RetryConfig;
  ledger: DeliveryLedger;
  log: Logger;
  /** herald_deliveries_total: the channels not needed are counted as skipped. */
  deliveries: DeliveriesCounter;
}) {
  return {
    async next(job: DeliveryJob, failedBecause: string): Promise<void> {
      const [head, ...rest] = job.fallback ?? [];
      if (!head) return;
      const parsed = deliveryJobSchema.safeParse({ ...head, fallback: rest });
      if (!parsed.success) {
        deps.log.error(
          { deliveryId: head.deliveryId },
          'fallback job does not parse; skipping the chain',
        );
        return;
      }
      const next = parsed.data;
      const queue = deps.queues.get(laneQueueName(next.channel, next.lane));
      if (!queue) throw new Error(`no queue for ${next.channel}.${next.lane}`);
      // Enqueue first: a crash before the status write still delivers.
      await queue.add('deliver', next, deliveryJobOptions(next.lane, deps.retry, next.deliveryId));
      await deps.ledger.setStatus({
        deliveryId: next.deliveryId,
        status: 'queued',
        reason: `fallback after ${job.channel}: ${failedBecause}`.slice(0, 500),
        from: ['pending'],
      });
    },

    async skipRest(job: DeliveryJob): Promise<void> {
      const rest = job.fallback ?? [];
      const skipped = await Promise.all(
        rest.map((f) =>
          deps.ledger.setStatus({
            deliveryId: f.deliveryId,
            status: 'skipped',
            reason: `not needed: delivered by ${job.channel}`,
            from: ['pending'],
          }),
        ),
      );
      // Counted only where it applied: one cancelled meanwhile stays cancelled.
      // The chain shares the notification's lane.
      rest.forEach((f, i) => {
        if (skipped[i])
          deps.deliveries.inc({ channel: f.channel, lane: job.lane, outcome: 'skipped' });
      });
    },
  };
}

export type FallbackChain = ReturnType<typeof createFallbackChain>;

import type { Queue } from 'bullmq';
import { createQueueGauges, type Channel } from '@herald/core';
import type { Registry } from 'prom-client';

export const GAUGED_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed'] as const;

/**
 * herald_queue_jobs and herald_dlq_jobs for one channel's queues, read from
 * Redis when Prometheus scrapes (no timers, nothing stale).
 */
export function registerQueueGauges(
  registry: Registry,
  channel: Channel,
  laneQueues: Queue[],
  dlq: Queue,
): void {
  createQueueGauges(registry, {
    async collectQueues(gauge) {
      // A scrape while Redis is away keeps the last values rather than failing.
      await Promise.all(
        laneQueues.map(async (q) => {
          const counts = await q.getJobCounts(...GAUGED_STATES);
          for (const state of GAUGED_STATES)
            gauge.set({ queue: q.name, state }, counts[state] ?? 0);
        }),
      ).catch(() => {});
    },
    async collectDlq(gauge) {
      await dlq.getWaitingCount().then(
        (n) => gauge.set({ channel }, n),
        () => {},
      );
    },
  });
}

import type { Queue } from 'bullmq';
import type { Gauge } from 'prom-client';
import type { Channel } from './topology';

export const GAUGED_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed'] as const;

/**
 * Collectors for herald_queue_jobs and herald_dlq_jobs (see createQueueGauges):
 * read from Redis when Prometheus scrapes, so nothing is stale and no timer
 * runs. A scrape while Redis is away keeps the last values.
 */
export function queueGaugeCollectors(
  laneQueues: Iterable<Queue>,
  deadLetterQueues: Map<Channel, Queue>,
) {
  const lanes = [...laneQueues];
  return {
    async collectQueues(gauge: Gauge<'queue' | 'state'>) {
      await Promise.all(
        lanes.map(async (q) => {
          const counts = await q.getJobCounts(...GAUGED_STATES);
          for (const state of GAUGED_STATES)
            gauge.set({ queue: q.name, state }, counts[state] ?? 0);
        }),
      ).catch(() => {});
    },
    async collectDlq(gauge: Gauge<'channel'>) {
      await Promise.all(
        [...deadLetterQueues].map(async ([channel, q]) =>
          gauge.set({ channel }, await q.getWaitingCount()),
        ),
      ).catch(() => {});
    },
  };
}

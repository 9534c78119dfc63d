import type { Queue } from 'bullmq';
import {
  CHANNELS,
  LANES,
  laneQueueName,
  readCircuitState,
  type Channel,
  type Redis,
} from '@herald/core';

export interface LaneOverview {
  queue: string;
  channel: Channel;
  lane: string;
  waiting: number;
  active: number;
  delayed: number;
  prioritized: number;
  failed: number;
  /** Jobs finished in the last full minute. */
  throughputLastMinute: number;
  /**
   * Milliseconds the lane stays held by a pause the workers set (a provider's
   * rate limit or Retry-After, the lane's share of the budget, an open
   * breaker); 0 while it runs.
   */
  pausedForMs: number;
}

export interface ChannelOverview {
  channel: Channel;
  circuit: 'closed' | 'half_open' | 'open' | 'unknown';
  dlq: number;
  lanes: LaneOverview[];
}

/** BullMQ keeps per-minute completion counts; read the last full minute. */
async function lastFullMinute(queue: Queue, now: number): Promise<number> {
  const { meta, data } = await queue.getMetrics('completed', 0, 0);
  if (!meta.prevTS) return 0;
  const minutesSince = Math.floor(now / 60_000) - Math.floor(meta.prevTS / 60_000);
  if (minutesSince === 0) return data[0] ?? 0;
  if (minutesSince === 1) return meta.count - meta.prevCount;
  return 0;
}

/**
 * How long the lane's pause has left. Workers pause a lane with
 * Queue.rateLimit(ms), which fills BullMQ's limiter key to the maximum;
 * asking for the TTL only at that count leaves out the ordinary per-second
 * limiter windows of a lane that is merely busy.
 */
async function pauseLeftMs(queue: Queue): Promise<number> {
  return Math.max(0, await queue.getRateLimitTtl(Number.MAX_SAFE_INTEGER));
}

/** GET /v1/queues: depth and pause per lane, DLQ size and breaker state per channel. */
export async function getQueueOverview(deps: {
  queues: Map<string, Queue>;
  deadLetterQueues: Map<Channel, Queue>;
  redis: Redis;
  prefix: string;
  now?: number;
}): Promise<ChannelOverview[]> {
  const now = deps.now ?? Date.now();
  return Promise.all(
    CHANNELS.map(async (channel) => {
      const lanes = await Promise.all(
        LANES.map(async (lane) => {
          const queue = deps.queues.get(laneQueueName(channel, lane))!;
          const [counts, throughputLastMinute, pausedForMs] = await Promise.all([
            queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed'),
            lastFullMinute(queue, now),
            pauseLeftMs(queue),
          ]);
          return {
            queue: queue.name,
            channel,
            lane,
            waiting: counts.waiting ?? 0,
            active: counts.active ?? 0,
            delayed: counts.delayed ?? 0,
            prioritized: counts.prioritized ?? 0,
            failed: counts.failed ?? 0,
            throughputLastMinute,
            pausedForMs,
          };
        }),
      );
      return {
        channel,
        circuit: await readCircuitState(deps.redis, deps.prefix, channel, now),
        dlq: await deps.deadLetterQueues.get(channel)!.getWaitingCount(),
        lanes,
      };
    }),
  );
}

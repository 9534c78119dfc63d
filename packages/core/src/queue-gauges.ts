import type { Queue } from 'bullmq';
import type { Gauge } from 'prom-client';
import type { Channel } from './topology';

export const GAUGED_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed'] as const;

interface LaneSnapshot {
  queue: string;
  counts: Record<string, number>;
  /** Seconds the oldest waiting job has been ready to run; 0 when none waits. */
  oldestAgeSeconds: number;
}

/**
 * A field Herald's workers write into a BullMQ job's hash when they put an
 * active job back in the delayed set (a throttled campaign waiting for its
 * slot, a busy address, a retry's backoff): when it is due again, in ms since
 * the epoch. BullMQ records no promotion time, and keeps unknown fields until
 * the job goes.
 */
export const JOB_READY_AT_FIELD = 'heraldReadyAt';

/**
 * When the next job of a queue (the tail of its wait list: workers take from
 * there) became ready to run, in ms since the epoch: its creation, or the end
 * of the delay it was created with (a throttled campaign batch), or the end of
 * a wait a worker put it in (JOB_READY_AT_FIELD: a deferral or a retry's
 * backoff), or, for a job tried since, the start of its last attempt (a lane
 * pause puts it straight back). Two small Redis reads; the job's payload is
 * not loaded.
 */
async function oldestWaitingReadyAt(q: Queue): Promise<number | undefined> {
  const client = await q.getBackend().client;
  const [id] = await client.lrange(q.keys.wait!, -1, -1);
  if (!id) return undefined;
  const [timestamp, processedOn, opts, readyAt] = await client.hmget(
    q.toKey(id),
    'timestamp',
    'processedOn',
    'opts',
    JOB_READY_AT_FIELD,
  );
  if (!timestamp) return undefined; // taken by a worker between the two reads
  return Math.max(
    Number(timestamp) + creationDelayMs(opts),
    Number(processedOn ?? 0),
    Number(readyAt ?? 0) || 0,
  );
}

function creationDelayMs(opts: string | null | undefined): number {
  try {
    const delay = (JSON.parse(opts ?? '{}') as { delay?: unknown }).delay;
    return typeof delay === 'number' ? delay : 0;
  } catch {
    return 0;
  }
}

async function readLane(q: Queue, now: number): Promise<LaneSnapshot> {
  const [counts, readyAt] = await Promise.all([
    q.getJobCounts(...GAUGED_STATES),
    oldestWaitingReadyAt(q),
  ]);
  const oldestAgeSeconds = readyAt === undefined ? 0 : Math.max(0, now - readyAt) / 1000;
  return { queue: q.name, counts, oldestAgeSeconds };
}

/**
 * Collectors for herald_queue_jobs, herald_queue_oldest_job_age_seconds and
 * herald_dlq_jobs (see createQueueGauges): read from Redis when Prometheus
 * scrapes, so nothing is stale and no timer runs. The two lane gauges share
 * one read per scrape. A scrape while Redis is away keeps the last values.
 */
export function queueGaugeCollectors(
  laneQueues: Iterable<Queue>,
  deadLetterQueues: Map<Channel, Queue>,
) {
  const lanes = [...laneQueues];
  let inFlight: Promise<LaneSnapshot[]> | undefined;
  /** One read of every lane, shared by the gauges collected in the same scrape. */
  const snapshot = () => {
    inFlight ??= Promise.all(lanes.map((q) => readLane(q, Date.now()))).finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
  return {
    async collectQueues(gauge: Gauge<'queue' | 'state'>) {
      await snapshot().then(
        (snapshots) => {
          for (const { queue, counts } of snapshots)
            for (const state of GAUGED_STATES) gauge.set({ queue, state }, counts[state] ?? 0);
        },
        () => {},
      );
    },
    async collectQueueAge(gauge: Gauge<'queue'>) {
      await snapshot().then(
        (snapshots) => {
          for (const { queue, oldestAgeSeconds } of snapshots)
            gauge.set({ queue }, oldestAgeSeconds);
        },
        () => {},
      );
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

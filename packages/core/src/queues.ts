import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RetryConfig } from './config/common';
import { JOB_PAYLOAD_VERSION, MAX_DELIVERIES_PER_JOB, type DeliveryBatch } from './job-payload';
import {
  allLaneQueues,
  CHANNELS,
  deadLetterQueueName,
  parseLaneQueueName,
  type Channel,
  type Lane,
} from './topology';

/** The backoff type our workers implement (full jitter, honours Retry-After). */
export const HERALD_BACKOFF = 'herald';

/**
 * Options of every delivery job. The job id is the delivery id (or the
 * batch's), which makes enqueueing idempotent while the job exists (outbox
 * relay, retried requests). A delivery retried on its own after `priorAttempts`
 * in a batch gets the attempts it has left.
 */
export function deliveryJobOptions(
  lane: Lane,
  retry: RetryConfig,
  jobId: string,
  priorAttempts = 0,
): JobsOptions {
  return {
    jobId,
    attempts: Math.max(1, retry.attempts[lane] - priorAttempts),
    backoff: { type: HERALD_BACKOFF },
    removeOnComplete: true,
    // Final failures are moved to the channel's DLQ; the failed set is a short backstop.
    removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
  };
}

/** Producer-side handles on every lane queue, keyed by queue name. */
export function createLaneQueues(connection: Redis, prefix: string): Map<string, Queue> {
  return new Map(
    allLaneQueues().map(({ name }) => [name, new Queue(name, { connection, prefix })] as const),
  );
}

/** Producer-side handles on every channel's dead-letter queue. */
export function createDeadLetterQueues(connection: Redis, prefix: string): Map<Channel, Queue> {
  return new Map(
    CHANNELS.map(
      (channel) =>
        [channel, new Queue(deadLetterQueueName(channel), { connection, prefix })] as const,
    ),
  );
}

export async function closeQueues(queues: Iterable<Queue>): Promise<void> {
  await Promise.all([...queues].map((q) => q.close()));
}

/** A delivery job ready to enqueue (the same shape the outbox keeps). */
export interface PendingJob {
  deliveryId: string;
  queue: string;
  payload: unknown;
}

/** One BullMQ job: a single delivery (job id = delivery id) or a batch of them. */
export interface PlannedJob {
  jobId: string;
  queue: string;
  lane: Lane;
  data: unknown;
  deliveryIds: string[];
  /** Not before this many ms from now (a scheduled send coming due). */
  delayMs?: number;
  /**
   * Redis refuses this job id again for this long, even once the job has run
   * and been removed (BullMQ deduplication, throttle mode). Without it, adding
   * an id again is a no-op only while the job still exists.
   */
  dedupeForMs?: number;
}

/**
 * Groups deliveries into jobs: per queue, up to `maxPerJob` to a job. A lone
 * delivery is a plain job whose id is its delivery id; a group is a batch job.
 * Job ids are deterministic, so enqueueing the same plan twice (the outbox
 * relay after a crash) adds nothing.
 */
export function planJobs(
  jobs: readonly PendingJob[],
  maxPerJob = MAX_DELIVERIES_PER_JOB,
): PlannedJob[] {
  const byQueue = new Map<string, PendingJob[]>();
  for (const job of jobs) {
    const list = byQueue.get(job.queue) ?? [];
    list.push(job);
    byQueue.set(job.queue, list);
  }
  const planned: PlannedJob[] = [];
  for (const [queue, list] of byQueue) {
    const parsed = parseLaneQueueName(queue);
    if (!parsed) throw new Error(`unknown queue ${queue}`);
    for (let i = 0; i < list.length; i += maxPerJob) {
      const chunk = list.slice(i, i + maxPerJob);
      planned.push(
        chunk.length === 1
          ? {
              jobId: chunk[0]!.deliveryId,
              queue,
              lane: parsed.lane,
              data: chunk[0]!.payload,
              deliveryIds: [chunk[0]!.deliveryId],
            }
          : {
              jobId: batchJobId(chunk.map((j) => j.deliveryId)),
              queue,
              lane: parsed.lane,
              data: batchJobData(
                parsed.channel,
                parsed.lane,
                chunk.map((j) => j.payload),
              ),
              deliveryIds: chunk.map((j) => j.deliveryId),
            },
      );
    }
  }
  return planned;
}

/**
 * The data of a batch job: deliveries of one channel and lane, with the
 * fields they all have alike stored once (`shared`). A campaign's members
 * differ only in their ids and addresses: its content (a 50 KiB email, say)
 * would otherwise be written 50 times per job, into Redis, into the campaign
 * outbox and through every worker's JSON parser.
 */
export function batchJobData(channel: Channel, lane: Lane, payloads: unknown[]): DeliveryBatch {
  const shared = sharedFields(payloads);
  if (!shared)
    return { v: JOB_PAYLOAD_VERSION, kind: 'batch', channel, lane, deliveries: payloads };
  // Copied key by key rather than cloned and deleted from: an object that
  // loses properties turns into a slow dictionary for everything after.
  const deliveries = payloads.map((p) => {
    const own: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(p as Record<string, unknown>))
      if (!Object.hasOwn(shared, key)) own[key] = value;
    return own;
  });
  return { v: JOB_PAYLOAD_VERSION, kind: 'batch', channel, lane, shared, deliveries };
}

/** Identity fields stay on each member, where readers filter on them. */
const NEVER_SHARED = new Set(['deliveryId', 'recipientId']);

/**
 * The fields every payload has with the same value: the same primitive, or
 * the same object (not a deep comparison: a fan-out hands every member the
 * campaign's one content object, and comparing copies would cost what
 * sharing saves). Undefined when none are.
 */
function sharedFields(payloads: readonly unknown[]): Record<string, unknown> | undefined {
  const isRecord = (p: unknown): p is Record<string, unknown> =>
    typeof p === 'object' && p !== null && !Array.isArray(p);
  const [first, ...rest] = payloads;
  if (!isRecord(first) || !rest.every(isRecord)) return undefined;
  let shared: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(first)) {
    if (NEVER_SHARED.has(key) || value === undefined) continue;
    if (rest.every((p) => Object.hasOwn(p, key) && p[key] === value)) (shared ??= {})[key] = value;
  }
  return shared;
}

/** A batch's job id: its first delivery id, marked, so it never collides with a single job. */
export function batchJobId(deliveryIds: readonly string[]): string {
  return `b-${deliveryIds[0]}`;
}

function optionsOf(job: PlannedJob, retry: RetryConfig): JobsOptions {
  const options: JobsOptions = deliveryJobOptions(job.lane, retry, job.jobId);
  if (job.delayMs && job.delayMs > 0) options.delay = Math.round(job.delayMs);
  if (job.dedupeForMs) options.deduplication = { id: job.jobId, ttl: job.dedupeForMs };
  return options;
}

/**
 * Adds planned jobs (one round trip per queue). Resolves with the delivery
 * ids Redis confirmed; a queue that fails or does not answer in time leaves
 * its jobs to the outbox relay (adding is idempotent by job id).
 */
export async function enqueueJobs(
  queues: Map<string, Queue>,
  jobs: readonly PlannedJob[],
  retry: RetryConfig,
  timeoutMs = 2000,
): Promise<{ enqueued: string[]; failed: { queue: string; error: Error }[] }> {
  const byQueue = new Map<string, PlannedJob[]>();
  for (const job of jobs) {
    const list = byQueue.get(job.queue) ?? [];
    list.push(job);
    byQueue.set(job.queue, list);
  }
  const enqueued: string[] = [];
  const failed: { queue: string; error: Error }[] = [];
  await Promise.all(
    [...byQueue].map(async ([name, list]) => {
      const queue = queues.get(name);
      if (!queue) {
        failed.push({ queue: name, error: new Error(`unknown queue ${name}`) });
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          list.length === 1
            ? queue.add('deliver', list[0]!.data, optionsOf(list[0]!, retry))
            : queue.addBulk(
                list.map((j) => ({
                  name: 'deliver',
                  data: j.data,
                  opts: optionsOf(j, retry),
                })),
              ),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`Redis did not answer within ${timeoutMs} ms`)),
              timeoutMs,
            );
          }),
        ]);
        enqueued.push(...list.flatMap((j) => j.deliveryIds));
      } catch (err) {
        failed.push({ queue: name, error: err as Error });
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { enqueued, failed };
}

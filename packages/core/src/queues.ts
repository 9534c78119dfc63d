import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RetryConfig } from './config/common';
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
 * Options of every delivery job. The job id is the delivery id, which makes
 * enqueueing idempotent while the job exists (outbox relay, retried requests).
 */
export function deliveryJobOptions(
  lane: Lane,
  retry: RetryConfig,
  deliveryId: string,
): JobsOptions {
  return {
    jobId: deliveryId,
    attempts: retry.attempts[lane],
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

/**
 * Adds jobs to their lane queues (one round trip per queue). Resolves with
 * the delivery ids Redis confirmed; a queue that fails or does not answer in
 * time leaves its jobs to the outbox relay (adding is idempotent by job id).
 */
export async function enqueueJobs(
  queues: Map<string, Queue>,
  jobs: readonly PendingJob[],
  retry: RetryConfig,
  timeoutMs = 2000,
): Promise<{ enqueued: string[]; failed: { queue: string; error: Error }[] }> {
  const byQueue = new Map<string, PendingJob[]>();
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
      const lane = parseLaneQueueName(name)?.lane;
      if (!queue || !lane) {
        failed.push({ queue: name, error: new Error(`unknown queue ${name}`) });
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          list.length === 1
            ? queue.add(
                'deliver',
                list[0]!.payload,
                deliveryJobOptions(lane, retry, list[0]!.deliveryId),
              )
            : queue.addBulk(
                list.map((j) => ({
                  name: 'deliver',
                  data: j.payload,
                  opts: deliveryJobOptions(lane, retry, j.deliveryId),
                })),
              ),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`Redis did not answer within ${timeoutMs} ms`)),
              timeoutMs,
            );
          }),
        ]);
        enqueued.push(...list.map((j) => j.deliveryId));
      } catch (err) {
        failed.push({ queue: name, error: err as Error });
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { enqueued, failed };
}

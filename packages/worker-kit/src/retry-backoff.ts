import type { Job, Queue } from 'bullmq';
import {
  backoffDelayMs,
  DeliveryError,
  JOB_READY_AT_FIELD,
  type BackoffPolicy,
} from '@herald/core';

/** The backoff already drawn for an error a processor is about to throw. */
const drawn = new WeakMap<Error, number>();

/**
 * Draws the backoff before a job that BullMQ will retry is handed back, and
 * writes when the job is due again into it (JOB_READY_AT_FIELD): BullMQ keeps
 * no such time once the job is promoted, and the queue-age gauge would
 * otherwise count the whole backoff as time spent waiting for a worker. The
 * delay is random (jitter), so the worker's backoffStrategy must return this
 * same draw (retryBackoffMs) rather than draw its own. The write costs one
 * Redis call per retry; losing it only makes the gauge pessimistic.
 */
export async function planRetry(
  queue: Queue,
  job: Job,
  err: DeliveryError,
  policy: BackoffPolicy,
): Promise<void> {
  // BullMQ asks its backoffStrategy with the attempts made including this one.
  const delay = backoffDelayMs(job.attemptsMade + 1, policy, err.retryAfterMs);
  drawn.set(err, delay);
  const client = await queue.getBackend().client;
  await client
    .hset(queue.toKey(job.id!), { [JOB_READY_AT_FIELD]: String(Date.now() + delay) })
    .catch(() => {});
}

/** The worker's backoffStrategy: the delay planRetry drew, or a fresh draw. */
export function retryBackoffMs(attemptsMade: number, policy: BackoffPolicy, err?: Error): number {
  return (
    (err && drawn.get(err)) ??
    backoffDelayMs(
      attemptsMade,
      policy,
      err instanceof DeliveryError ? err.retryAfterMs : undefined,
    )
  );
}

import type { Job, Queue } from 'bullmq';
import { JOB_READY_AT_FIELD } from '@herald/core';

/**
 * Puts an active job back in the delayed set until `until` without spending
 * an attempt, writing in the same Redis script when it is due (for the
 * queue-age gauge) and, if given, its new data: one step, so a crash cannot
 * leave a job delayed without its data or its data changed without the delay.
 * The caller then throws BullMQ's DelayedError.
 */
export async function delayActiveJob(
  queue: Queue,
  job: Job,
  until: number,
  token: string | undefined,
  data?: object,
): Promise<void> {
  const now = Date.now();
  await queue.getBackend().moveToDelayed(job.id!, now, Math.max(0, until - now), token, {
    skipAttempt: true,
    fieldsToUpdate: {
      [JOB_READY_AT_FIELD]: String(until),
      ...(data ? { data: JSON.stringify(data) } : {}),
    },
  });
}

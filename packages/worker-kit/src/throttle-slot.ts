import { DelayedError, type Job, type Queue } from 'bullmq';
import { batchMembers } from '@herald/core';
import type { CampaignThrottle } from './campaign-throttle';
import { delayActiveJob } from './delay-active-job';

/**
 * How a job of a throttled campaign takes, waits for and keeps its slot. The
 * job remembers in its data that it holds one (`throttleSlotFor`: the attempt
 * it holds it for), so it is not reserved twice: when it comes back from the
 * delayed set at its slot, or after a pause or a busy address stopped it
 * before it sent. A retry is a new send, and takes a new slot.
 */
type SlotData = { throttleSlotFor?: unknown };

const holdsSlot = (job: Job) => (job.data as SlotData).throttleSlotFor === job.attemptsMade;

const dataHoldingSlot = (job: Job): object => ({
  ...(job.data as object),
  throttleSlotFor: job.attemptsMade,
});

/**
 * Takes the job's slot; when the slot is later, the job waits in the delayed
 * set for it (no attempt spent) and this throws BullMQ's DelayedError. Read
 * off the raw payload, before anything is parsed, settled or re-enqueued, so
 * a job that waits has done nothing yet.
 */
export async function awaitThrottleSlot(
  throttle: CampaignThrottle,
  queue: Queue,
  job: Job,
  token: string | undefined,
): Promise<void> {
  if (holdsSlot(job)) return; // its slot has come
  const wanted = throttledSends(job.data);
  if (wanted.size === 0) return;
  const waits = await Promise.all(
    [...wanted].map(([campaignId, { perSecond, sends }]) =>
      throttle.reserve(campaignId, perSecond, sends),
    ),
  );
  const waitMs = Math.max(...waits);
  if (waitMs <= 0) return;
  await delayActiveJob(queue, job, Date.now() + waitMs, token, dataHoldingSlot(job));
  throw new DelayedError();
}

/**
 * The data a throttled job that goes back unsent (paused, deferred) keeps its
 * slot with; undefined when there is nothing to change.
 */
export function dataKeepingSlot(
  job: Job,
  payload: { throttlePerSecond?: number },
): object | undefined {
  return payload.throttlePerSecond !== undefined && !holdsSlot(job)
    ? dataHoldingSlot(job)
    : undefined;
}

/**
 * The data of a new job for members that were not sent (a pause, a busy
 * address): it holds the slot they already had, for its first try.
 */
export function withThrottleSlot(
  data: unknown,
  members: readonly { throttlePerSecond?: number }[],
): unknown {
  return members.some((m) => m.throttlePerSecond !== undefined)
    ? { ...(data as object), throttleSlotFor: 0 }
    : data;
}

/** The sends of throttled campaigns in a raw job (one delivery or a batch), per campaign. */
function throttledSends(data: unknown): Map<string, { perSecond: number; sends: number }> {
  const wanted = new Map<string, { perSecond: number; sends: number }>();
  for (const m of batchMembers(data) as { campaignId?: unknown; throttlePerSecond?: unknown }[]) {
    const perSecond = m?.throttlePerSecond;
    if (typeof m?.campaignId !== 'string' || typeof perSecond !== 'number') continue;
    if (!Number.isInteger(perSecond) || perSecond < 1) continue;
    const entry = wanted.get(m.campaignId);
    if (entry) entry.sends += 1;
    else wanted.set(m.campaignId, { perSecond, sends: 1 });
  }
  return wanted;
}

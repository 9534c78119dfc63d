import type { Queue } from 'bullmq';
import type { Channel, DeadLetter, Lane } from '@herald/core';
import { listAttemptErrors, wasRecipientErased } from '@herald/db';
import type pg from 'pg';

export interface BuryRequest {
  deliveryId: string;
  notificationId?: string;
  lane: Lane;
  queue: string;
  reason: string;
  attemptsMade: number;
  job: unknown;
  /** Errors known beyond those recorded as attempts (e.g. a stalled job's failure). */
  extraErrors?: DeadLetter['errors'];
}

/**
 * Moves finally failed deliveries to the channel's dead-letter queue, with
 * every error recorded for them. The DLQ job id is the delivery id, so
 * burying twice (a retry after a crash, two sweeping replicas) keeps one.
 */
export function createDeadLetters(deps: { dlq: Queue; channel: Channel; pool: pg.Pool }) {
  return {
    /**
     * Resolves with false when nothing was buried: the delivery's recipient was
     * erased while it was in flight. Its letter would keep the addresses the
     * erasure removed, and a redrive would send to them again.
     */
    async bury(request: BuryRequest): Promise<boolean> {
      const recipientId = (request.job as { recipientId?: unknown } | undefined)?.recipientId;
      const [attemptErrors, erased] = await Promise.all([
        listAttemptErrors(deps.pool, request.deliveryId),
        typeof recipientId === 'string'
          ? wasRecipientErased(deps.pool, request.deliveryId, recipientId)
          : false,
      ]);
      if (erased) return false;
      const errors = [...attemptErrors, ...(request.extraErrors ?? [])];
      const letter: DeadLetter = {
        v: 1,
        deliveryId: request.deliveryId,
        notificationId: request.notificationId,
        channel: deps.channel,
        lane: request.lane,
        queue: request.queue,
        reason: request.reason,
        failedAt: new Date().toISOString(),
        attemptsMade: request.attemptsMade,
        errors,
        job: request.job,
      };
      await deps.dlq.add('dead', letter, {
        jobId: request.deliveryId,
        removeOnComplete: true,
        removeOnFail: true,
      });
      return true;
    },
  };
}

export type DeadLetters = ReturnType<typeof createDeadLetters>;

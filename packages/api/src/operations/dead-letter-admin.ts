import type { Job, Queue } from 'bullmq';
import {
  CHANNELS,
  deadLetterSchema,
  deliveryJobOptions,
  parseLaneQueueName,
  type Channel,
  type DeadLetter,
  type RetryConfig,
} from '@herald/core';
import { findExistingDeliveries, recordAudit, requeueDeliveries, type Database } from '@herald/db';

export interface DeadLetterView extends Omit<DeadLetter, 'job' | 'v'> {
  jobId: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function view(job: Job): DeadLetterView | undefined {
  const parsed = deadLetterSchema.safeParse(job.data);
  if (!parsed.success) return undefined;
  const { job: _payload, v: _v, ...rest } = parsed.data;
  return { jobId: String(job.id), ...rest };
}

/**
 * The operator side of the dead-letter queues: list, redrive (back to the
 * lane queue with fresh attempts, history kept), delete. Every change is
 * audited with the operator's token subject.
 */
export function createDeadLetterAdmin(deps: {
  queues: Map<string, Queue>;
  deadLetterQueues: Map<Channel, Queue>;
  retry: RetryConfig;
  db: Database;
}) {
  async function find(jobId: string): Promise<{ job: Job; channel: Channel } | undefined> {
    for (const channel of CHANNELS) {
      const job = await deps.deadLetterQueues.get(channel)!.getJob(jobId);
      if (job) return { job, channel };
    }
    return undefined;
  }

  /**
   * Redrives these dead letters, but not one whose delivery record is gone
   * (purged past RETENTION_DAYS): it would be sent with no record of it, its
   * status and attempts written nowhere. Those stay in the DLQ, returned as orphaned.
   */
  async function redriveJobs(
    jobs: Job[],
    actor: string,
  ): Promise<{ redriven: string[]; orphaned: string[] }> {
    const letters = jobs.flatMap((job) => {
      const letter = deadLetterSchema.safeParse(job.data);
      return letter.success ? [{ job, letter: letter.data }] : [];
    });
    // A job buried because its payload did not parse has no delivery id: it is let through.
    const hasId = ({ letter }: { letter: DeadLetter }) => UUID.test(letter.deliveryId);
    const recorded = await findExistingDeliveries(
      deps.db.pool,
      letters.filter(hasId).map((l) => l.letter.deliveryId),
    );
    const isOrphan = (l: { letter: DeadLetter }) => hasId(l) && !recorded.has(l.letter.deliveryId);
    const byQueue = new Map<string, typeof letters>();
    for (const entry of letters.filter((l) => !isOrphan(l))) {
      byQueue.set(entry.letter.queue, [...(byQueue.get(entry.letter.queue) ?? []), entry]);
    }
    const redriven: string[] = [];
    for (const [queueName, entries] of byQueue) {
      const queue = deps.queues.get(queueName);
      const lane = parseLaneQueueName(queueName)?.lane;
      if (!queue || !lane) continue;
      // Back in the lane first, then out of the DLQ: a crash in between leaves a
      // duplicate entry in the DLQ, never a lost one.
      await queue.addBulk(
        entries.map(({ letter: l }) => ({
          name: 'deliver',
          // Fresh attempts, numbered on after those it had before it died.
          data: { ...(l.job as object), priorAttempts: undefined, attemptsBefore: l.attemptsMade },
          opts: deliveryJobOptions(lane, deps.retry, l.deliveryId),
        })),
      );
      await requeueDeliveries(
        deps.db.pool,
        entries.map((e) => e.letter.deliveryId),
        `redriven by ${actor}`,
      );
      await Promise.all(entries.map((e) => e.job.remove()));
      redriven.push(...entries.map((e) => e.letter.deliveryId));
    }
    if (redriven.length > 0) {
      await recordAudit(deps.db.prisma, {
        actor,
        action: 'dlq.redrive',
        entityType: 'delivery',
        entityId: redriven.length === 1 ? redriven[0]! : `${redriven.length} deliveries`,
        details: { deliveryIds: redriven },
      });
    }
    return { redriven, orphaned: letters.filter(isOrphan).map((l) => String(l.job.id)) };
  }

  return {
    async list(channel: Channel, offset: number, limit: number) {
      const dlq = deps.deadLetterQueues.get(channel)!;
      const [jobs, total] = await Promise.all([
        dlq.getWaiting(offset, offset + limit - 1),
        dlq.getWaitingCount(),
      ]);
      return { total, items: jobs.map(view).filter((v): v is DeadLetterView => v !== undefined) };
    },

    /** Undefined when no DLQ holds that job. */
    async redriveOne(
      jobId: string,
      actor: string,
    ): Promise<{ redriven: string[]; orphaned: string[] } | undefined> {
      const found = await find(jobId);
      if (!found) return undefined;
      return redriveJobs([found.job], actor);
    },

    async redriveMany(
      channel: Channel,
      limit: number,
      actor: string,
    ): Promise<{ redriven: string[]; orphaned: string[] }> {
      const jobs = await deps.deadLetterQueues.get(channel)!.getWaiting(0, limit - 1);
      return redriveJobs(jobs, actor);
    },

    async remove(jobId: string, actor: string): Promise<boolean> {
      const found = await find(jobId);
      if (!found) return false;
      await found.job.remove();
      await recordAudit(deps.db.prisma, {
        actor,
        action: 'dlq.delete',
        entityType: 'delivery',
        entityId: jobId,
        details: { channel: found.channel, reason: (found.job.data as { reason?: string }).reason },
      });
      return true;
    },
  };
}

export type DeadLetterAdmin = ReturnType<typeof createDeadLetterAdmin>;

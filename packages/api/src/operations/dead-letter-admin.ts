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
import { recordAudit, requeueDeliveries, type Database } from '@herald/db';

export interface DeadLetterView extends Omit<DeadLetter, 'job' | 'v'> {
  jobId: string;
}

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

  async function redriveJobs(jobs: Job[], actor: string): Promise<string[]> {
    const redriven: string[] = [];
    const byQueue = new Map<string, Job[]>();
    for (const job of jobs) {
      const letter = deadLetterSchema.safeParse(job.data);
      if (!letter.success) continue;
      const list = byQueue.get(letter.data.queue) ?? [];
      list.push(job);
      byQueue.set(letter.data.queue, list);
    }
    for (const [queueName, list] of byQueue) {
      const queue = deps.queues.get(queueName);
      const lane = parseLaneQueueName(queueName)?.lane;
      if (!queue || !lane) continue;
      const letters = list.map((j) => deadLetterSchema.parse(j.data));
      // Back in the lane first, then out of the DLQ: a crash in between leaves a
      // duplicate entry in the DLQ, never a lost one.
      await queue.addBulk(
        letters.map((l) => ({
          name: 'deliver',
          // Fresh attempts, numbered on after those it had before it died.
          data: { ...(l.job as object), priorAttempts: undefined, attemptsBefore: l.attemptsMade },
          opts: deliveryJobOptions(lane, deps.retry, l.deliveryId),
        })),
      );
      await requeueDeliveries(
        deps.db.pool,
        letters.map((l) => l.deliveryId),
        `redriven by ${actor}`,
      );
      await Promise.all(list.map((j) => j.remove()));
      redriven.push(...letters.map((l) => l.deliveryId));
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
    return redriven;
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
    async redriveOne(jobId: string, actor: string): Promise<string | undefined> {
      const found = await find(jobId);
      if (!found) return undefined;
      const [id] = await redriveJobs([found.job], actor);
      return id;
    },

    async redriveMany(channel: Channel, limit: number, actor: string): Promise<string[]> {
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

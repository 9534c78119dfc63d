import type { Queue } from 'bullmq';
import { batchMembers, parseLaneQueueName, type Logger } from '@herald/core';
import type { DeliveryLedger } from '@herald/db';
import type { DeadLetters } from './dead-letters';

/**
 * The backstop behind the processor's own dead-lettering: a job can still end
 * in BullMQ's failed set without passing through our catch (it stalled more
 * often than allowed, its lock was lost, a bug threw). Sweep those into the
 * DLQ, mark the delivery failed, and remove them, so nothing is dropped
 * silently. Safe to run in every replica at once (burying is idempotent).
 */
export function startFailedJobSweep(deps: {
  queues: Queue[];
  deadLetters: DeadLetters;
  ledger: DeliveryLedger;
  log: Logger;
  intervalMs?: number;
}): { stop(): void; sweepNow(): Promise<number> } {
  let running: Promise<number> | undefined;

  async function sweepQueue(queue: Queue): Promise<number> {
    const lane = parseLaneQueueName(queue.name)?.lane;
    if (!lane) return 0;
    const jobs = await queue.getFailed(0, 199);
    let swept = 0;
    for (const job of jobs) {
      const reason = `failed outside the processor: ${job.failedReason ?? 'unknown'}`.slice(0, 500);
      const at = new Date(job.finishedOn ?? Date.now()).toISOString();
      // A batch job carries many deliveries: each gets its own dead letter.
      const members = batchMembers(job.data);
      for (const member of members) {
        const data = member as
          { deliveryId?: unknown; notificationId?: unknown; attemptsBefore?: unknown } | undefined;
        const attemptsMade =
          (typeof data?.attemptsBefore === 'number' ? data.attemptsBefore : 0) + job.attemptsMade;
        const deliveryId = typeof data?.deliveryId === 'string' ? data.deliveryId : String(job.id);
        await deps.deadLetters.bury({
          deliveryId,
          notificationId:
            typeof data?.notificationId === 'string' ? data.notificationId : undefined,
          lane,
          queue: queue.name,
          reason,
          attemptsMade,
          job: member,
          extraErrors: [{ attempt: attemptsMade, at, outcome: 'failed', message: reason }],
        });
        if (/^[0-9a-f-]{36}$/i.test(deliveryId)) {
          await deps.ledger.setStatus({
            deliveryId,
            status: 'failed',
            reason,
            from: ['queued', 'sending', 'scheduled', 'pending'],
          });
        }
      }
      await job.remove().catch(() => {});
      swept++;
    }
    return swept;
  }

  const sweepNow = () => {
    running ??= Promise.all(deps.queues.map(sweepQueue))
      .then((counts) => {
        const swept = counts.reduce((a, b) => a + b, 0);
        if (swept > 0) deps.log.warn({ swept }, 'moved failed jobs to the dead-letter queue');
        return swept;
      })
      .catch((err: unknown) => {
        deps.log.error({ err }, 'failed-job sweep failed');
        return 0;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const timer = setInterval(() => void sweepNow(), deps.intervalMs ?? 30_000);
  timer.unref();
  return { stop: () => clearInterval(timer), sweepNow };
}

import { DelayedError, Worker, type Job, type Queue } from 'bullmq';
import {
  backoffDelayMs,
  deliveryBatchSchema,
  deliveryJobOptions,
  deliveryJobSchema,
  isDeliveryBatch,
  planJobs,
  type BackoffPolicy,
  type Channel,
  type DeliveryJobFor,
  type DeliveryMetrics,
  type Lane,
  type Logger,
  type RetryConfig,
} from '@herald/core';
import { findSettledDeliveries, type DeliveryLedger } from '@herald/db';
import type pg from 'pg';
import type { DeadLetters } from './dead-letters';
import type { DeliverOne, DeliveryOutcome } from './deliver-one';

export interface JobProcessorDeps<C extends Channel> {
  channel: C;
  deliverOne: DeliverOne<C>;
  ledger: DeliveryLedger;
  deadLetters: DeadLetters;
  metrics: DeliveryMetrics;
  pool: pg.Pool;
  retry: RetryConfig;
  log: Logger;
  /** This channel's lane queues by name: fleet-wide pauses (queue.rateLimit) and re-enqueues. */
  laneQueues: Map<string, Queue>;
}

/**
 * The BullMQ processor of a channel's lane queues. A job carries one delivery
 * (a transactional send) or a batch of them (batch ingest, campaigns, the
 * relay). Either way each delivery is settled on its own; a batch member that
 * needs another try leaves as a job of its own.
 */
export function createJobProcessor<C extends Channel>(deps: JobProcessorDeps<C>) {
  const { channel, retry } = deps;
  const policy: BackoffPolicy = { baseMs: retry.baseMs, maxMs: retry.maxMs };

  /** Pause every lane of the channel, for every replica. */
  async function pauseChannel(ms: number): Promise<void> {
    await Promise.all([...deps.laneQueues.values()].map((q) => q.rateLimit(ms)));
  }

  async function processSingle(
    job: Job,
    token: string | undefined,
    payload: DeliveryJobFor<C>,
  ): Promise<void> {
    const prior = payload.priorAttempts ?? 0;
    const outcome = await deps.deliverOne(
      payload,
      prior + job.attemptsMade + 1,
      retry.attempts[payload.lane],
      {
        queue: job.queueName,
        jobId: job.id,
      },
    );
    switch (outcome.kind) {
      case 'sent':
      case 'dead':
        return;
      case 'retry':
        throw outcome.error; // BullMQ retries after our backoff (which honours retryAfterMs)
      case 'pause':
        await pauseChannel(outcome.ms);
        throw Worker.RateLimitError(); // back to wait, no attempt spent
      case 'defer':
        await job.moveToDelayed(Date.now() + outcome.ms, token);
        throw new DelayedError();
    }
  }

  async function processBatch(job: Job, lane: Lane, rawMembers: unknown[]): Promise<void> {
    const members: DeliveryJobFor<C>[] = [];
    for (const raw of rawMembers) {
      const parsed = deliveryJobSchema.safeParse(raw);
      if (parsed.success && parsed.data.channel === channel)
        members.push(parsed.data as DeliveryJobFor<C>);
      else
        await buryUnparseable(
          job,
          raw,
          parsed.success ? `member for ${parsed.data.channel}` : parsed.error.message,
        );
    }
    // A batch run again after a crash skips what it already settled (one query per such batch).
    const settled =
      job.attemptsStarted > 1 || job.stalledCounter > 0
        ? await findSettledDeliveries(
            deps.pool,
            members.map((m) => m.deliveryId),
          )
        : new Set<string>();
    const todo = members.filter((m) => !settled.has(m.deliveryId));
    const outcomes = await Promise.all(
      todo.map((m) =>
        deps.deliverOne(m, (m.priorAttempts ?? 0) + 1, retry.attempts[lane], {
          queue: job.queueName,
          jobId: job.id,
        }),
      ),
    );
    await requeueLeftovers(job.queueName, lane, todo, outcomes);
  }

  /** Members that were not settled leave as jobs of their own (or one batch, for a pause). */
  async function requeueLeftovers(
    queueName: string,
    lane: Lane,
    members: DeliveryJobFor<C>[],
    outcomes: DeliveryOutcome[],
  ) {
    const queue = deps.laneQueues.get(queueName)!;
    const paused: DeliveryJobFor<C>[] = [];
    let pauseMs = 0;
    const singles: { name: string; data: unknown; opts: ReturnType<typeof deliveryJobOptions> }[] =
      [];
    outcomes.forEach((outcome, i) => {
      const member = members[i]!;
      if (outcome.kind === 'pause') {
        paused.push(member);
        pauseMs = Math.max(pauseMs, outcome.ms);
      } else if (outcome.kind === 'retry') {
        const data = { ...member, priorAttempts: outcome.attempt };
        const opts = deliveryJobOptions(lane, retry, member.deliveryId, outcome.attempt);
        singles.push({
          name: 'deliver',
          data,
          opts: {
            ...opts,
            delay: backoffDelayMs(outcome.attempt, policy, outcome.error.retryAfterMs),
          },
        });
      } else if (outcome.kind === 'defer') {
        const opts = deliveryJobOptions(lane, retry, member.deliveryId, member.priorAttempts ?? 0);
        singles.push({ name: 'deliver', data: member, opts: { ...opts, delay: outcome.ms } });
      }
    });
    if (paused.length > 0) {
      for (const planned of planJobs(
        paused.map((m) => ({ deliveryId: m.deliveryId, queue: queueName, payload: m })),
      )) {
        // A fresh id: the running batch still holds its own.
        const jobId =
          planned.deliveryIds.length === 1 ? planned.jobId : `${planned.jobId}.${Date.now()}`;
        singles.push({
          name: 'deliver',
          data: planned.data,
          opts: deliveryJobOptions(lane, retry, jobId),
        });
      }
    }
    if (singles.length > 0) await queue.addBulk(singles);
    if (pauseMs > 0) await pauseChannel(pauseMs);
  }

  /** A payload that does not parse can never succeed: dead-letter it at once, recording why. */
  async function buryUnparseable(job: Job, raw: unknown, problem: string): Promise<void> {
    const reason = `invalid_payload: ${problem}`.slice(0, 1000);
    const data = raw as
      { deliveryId?: unknown; notificationId?: unknown; lane?: unknown } | undefined;
    const deliveryId = typeof data?.deliveryId === 'string' ? data.deliveryId : String(job.id);
    const lane: Lane = data?.lane === 'campaign' ? 'campaign' : 'transactional';
    deps.log.error({ jobId: job.id, queue: job.queueName }, 'job payload does not parse');
    if (/^[0-9a-f-]{36}$/i.test(deliveryId)) {
      await deps.ledger.record({
        deliveryId,
        attempt: job.attemptsMade + 1,
        at: new Date(),
        outcome: 'permanent_error',
        errorCode: 'invalid_payload',
        error: reason,
        durationMs: 0,
        status: 'failed',
        reason,
      });
    }
    await deps.deadLetters.bury({
      deliveryId,
      notificationId: typeof data?.notificationId === 'string' ? data.notificationId : undefined,
      lane,
      queue: job.queueName,
      reason,
      attemptsMade: job.attemptsMade + 1,
      job: raw,
    });
    deps.metrics.deliveries.inc({ channel, lane, outcome: 'dead' });
  }

  return async function processJob(job: Job, token?: string): Promise<void> {
    if (isDeliveryBatch(job.data)) {
      const batch = deliveryBatchSchema.safeParse(job.data);
      if (!batch.success || batch.data.channel !== channel) {
        return buryUnparseable(
          job,
          job.data,
          batch.success ? `batch for ${batch.data.channel}` : batch.error.message,
        );
      }
      return processBatch(job, batch.data.lane, batch.data.deliveries);
    }
    const parsed = deliveryJobSchema.safeParse(job.data);
    if (!parsed.success || parsed.data.channel !== channel) {
      return buryUnparseable(
        job,
        job.data,
        parsed.success ? `job for ${parsed.data.channel}` : parsed.error.message,
      );
    }
    return processSingle(job, token, parsed.data as DeliveryJobFor<C>);
  };
}

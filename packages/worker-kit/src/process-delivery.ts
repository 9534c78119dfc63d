import { DelayedError, Worker, type Job, type Queue } from 'bullmq';
import {
  backoffDelayMs,
  batchMembers,
  deliveryBatchSchema,
  deliveryJobOptions,
  deliveryJobSchema,
  isDeliveryBatch,
  isTemplatedJob,
  planJobs,
  templatedJobSchema,
  type BackoffPolicy,
  type HeldDeliveries,
  type Channel,
  type DeliveryJobFor,
  type DeliveryMetrics,
  type Lane,
  type Logger,
  type RetryConfig,
} from '@herald/core';
import { findSettledDeliveries, type DeliveryLedger } from '@herald/db';
import { isTemplateError, type TemplateRenderer } from '@herald/templates';
import type pg from 'pg';
import type { CampaignThrottle } from './campaign-throttle';
import { delayActiveJob } from './delay-active-job';
import { planRetry } from './retry-backoff';
import { awaitThrottleSlot, dataKeepingSlot, withThrottleSlot } from './throttle-slot';
import type { DeadLetters } from './dead-letters';
import type { DeliverOne, DeliveryOutcome, PauseScope } from './deliver-one';

/** A campaign batch held because its campaign is paused comes back after this long. */
export const PAUSED_RECHECK_MS = 2000;

/**
 * How many members of one batch job are being sent at once. A lane's 50 jobs
 * of 50 members each would otherwise start 2,500 sends together, most of them
 * only to wait for a socket with their requests built: in the webhook bench a
 * worker spent 12 % to 20 % more CPU per delivery that way (garbage
 * collection), for no more throughput. 16 per job still leaves a lane 800
 * sends in flight per process for slow receivers; fewer (5) starved it.
 */
export const BATCH_SENDS_IN_FLIGHT = 16;

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
  /** Renders deliveries whose content is a stored template (cached per template version). */
  templates?: TemplateRenderer;
  /** Holds throttled campaigns to their perSecond across the fleet (omit: the fan-out's delays only). */
  throttle?: CampaignThrottle;
  /** Which of these deliveries are cancelled or belong to a paused campaign: one Redis call per job. */
  findHeld(
    members: readonly { deliveryId: string; campaignId?: string }[],
  ): Promise<HeldDeliveries>;
}

/**
 * The BullMQ processor of a channel's lane queues. A job carries one delivery
 * (a transactional send) or a batch of them (batch ingest, campaigns, the
 * relay). Either way each delivery is settled on its own; a batch member that
 * needs another try leaves as a job of its own.
 */
export function createJobProcessor<C extends Channel>(deps: JobProcessorDeps<C>) {
  const { channel, retry } = deps;
  type Resolved = { job: DeliveryJobFor<C> } | { problem: string };
  const policy: BackoffPolicy = { baseMs: retry.baseMs, maxMs: retry.maxMs };

  /**
   * A payload as dequeued, resolved into what the provider sends: a stored
   * template is rendered here. A problem means it can never succeed. Inline
   * content resolves without waiting (most jobs: no promise per member).
   */
  function resolve(raw: unknown): Resolved | Promise<Resolved> {
    return isTemplatedJob(raw) ? render(raw) : parse(raw);
  }

  function parse(data: unknown): Resolved {
    const parsed = deliveryJobSchema.safeParse(data);
    if (!parsed.success) return { problem: parsed.error.message };
    if (parsed.data.channel !== channel)
      return { problem: `job for ${parsed.data.channel} on a ${channel} queue` };
    return { job: parsed.data as DeliveryJobFor<C> };
  }

  async function render(raw: unknown): Promise<Resolved> {
    const templated = templatedJobSchema.safeParse(raw);
    if (!templated.success) return { problem: templated.error.message };
    if (!deps.templates) return { problem: 'this worker cannot render templates' };
    const { template, data, ...rest } = templated.data;
    // A campaign's members share its data; each is rendered with its own recipient.
    const variables =
      rest.campaignId && rest.recipientId ? { ...data, recipient: { id: rest.recipientId } } : data;
    try {
      const rendered = await deps.templates.render(
        template.key,
        channel,
        variables,
        template.locale,
      );
      return parse({ ...rest, content: rendered.content });
    } catch (err) {
      if (isTemplateError(err))
        return { problem: `template ${template.key}: ${(err as Error).message}` };
      throw err; // e.g. Postgres away while loading it: the job is retried
    }
  }

  /** Deliveries not to send now: cancelled ones are settled, paused ones come back later. */
  async function holdBack(
    queueName: string,
    lane: Lane,
    members: DeliveryJobFor<C>[],
  ): Promise<DeliveryJobFor<C>[]> {
    const held = await deps.findHeld(members);
    if (held.cancelled.size === 0 && held.paused.size === 0) return members;
    await Promise.all(
      [...held.cancelled].map((deliveryId) =>
        deps.ledger.setStatus({
          deliveryId,
          status: 'cancelled',
          reason: 'cancelled',
          from: ['queued', 'sending', 'scheduled', 'pending'],
        }),
      ),
    );
    for (const _ of held.cancelled)
      deps.metrics.deliveries.inc({ channel, lane, outcome: 'cancelled' });
    const paused = members.filter((m) => held.paused.has(m.deliveryId));
    if (paused.length > 0) {
      const queue = deps.laneQueues.get(queueName)!;
      await queue.addBulk(
        planJobs(
          paused.map((m) => ({ deliveryId: m.deliveryId, queue: queueName, payload: m })),
        ).map((p) => ({
          name: 'deliver',
          data: p.data,
          opts: {
            ...deliveryJobOptions(lane, retry, `${p.jobId}.${Date.now()}`),
            delay: PAUSED_RECHECK_MS,
          },
        })),
      );
    }
    return members.filter(
      (m) => !held.cancelled.has(m.deliveryId) && !held.paused.has(m.deliveryId),
    );
  }

  /**
   * Pause for every replica: just this lane when it ran short of the shared
   * provider budget (the other lane keeps its share: transactional first),
   * every lane of the channel when the provider or the breaker says so.
   */
  async function pause(queueName: string, scope: PauseScope, ms: number): Promise<void> {
    const queues = scope === 'lane' ? [deps.laneQueues.get(queueName)!] : deps.laneQueues.values();
    await Promise.all([...queues].map((q) => q.rateLimit(ms)));
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
        // BullMQ retries after our backoff (which honours retryAfterMs).
        await planRetry(deps.laneQueues.get(job.queueName)!, job, outcome.error, policy);
        throw outcome.error;
      case 'pause': {
        const keeping = deps.throttle ? dataKeepingSlot(job, payload) : undefined;
        if (keeping) await job.updateData(keeping);
        await pause(job.queueName, outcome.scope, outcome.ms);
        throw Worker.RateLimitError(); // back to wait, no attempt spent
      }
      case 'defer': {
        const keeping = deps.throttle ? dataKeepingSlot(job, payload) : undefined;
        const queue = deps.laneQueues.get(job.queueName)!;
        await delayActiveJob(queue, job, Date.now() + outcome.ms, token, keeping);
        throw new DelayedError();
      }
    }
  }

  async function processBatch(job: Job, lane: Lane, rawMembers: unknown[]): Promise<void> {
    const resolved: DeliveryJobFor<C>[] = [];
    for (const raw of rawMembers) {
      const pending = resolve(raw);
      const result = pending instanceof Promise ? await pending : pending;
      if ('job' in result) resolved.push(result.job);
      else await buryUnparseable(job, raw, result.problem);
    }
    const members = await holdBack(job.queueName, lane, resolved);
    // A batch run again after a crash skips what it already settled (one query per such batch).
    const settled =
      job.attemptsStarted > 1 || job.stalledCounter > 0
        ? await findSettledDeliveries(
            deps.pool,
            members.map((m) => m.deliveryId),
          )
        : new Set<string>();
    const todo = members.filter((m) => !settled.has(m.deliveryId));
    const outcomes = await mapInFlight(todo, BATCH_SENDS_IN_FLIGHT, (m) =>
      deps.deliverOne(m, (m.priorAttempts ?? 0) + 1, retry.attempts[lane], {
        queue: job.queueName,
        jobId: job.id,
      }),
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
    const pauseMs: Record<PauseScope, number> = { lane: 0, channel: 0 };
    const singles: { name: string; data: unknown; opts: ReturnType<typeof deliveryJobOptions> }[] =
      [];
    outcomes.forEach((outcome, i) => {
      const member = members[i]!;
      if (outcome.kind === 'pause') {
        paused.push(member);
        pauseMs[outcome.scope] = Math.max(pauseMs[outcome.scope], outcome.ms);
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
        singles.push({
          name: 'deliver',
          data: withThrottleSlot(member, [member]),
          opts: { ...opts, delay: outcome.ms },
        });
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
          data: withThrottleSlot(planned.data, paused),
          opts: deliveryJobOptions(lane, retry, jobId),
        });
      }
    }
    if (singles.length > 0) await queue.addBulk(singles);
    if (pauseMs.channel > 0) await pause(queueName, 'channel', pauseMs.channel);
    if (pauseMs.lane > pauseMs.channel) await pause(queueName, 'lane', pauseMs.lane);
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
    if (deps.throttle)
      await awaitThrottleSlot(deps.throttle, deps.laneQueues.get(job.queueName)!, job, token);
    if (isDeliveryBatch(job.data)) {
      const batch = deliveryBatchSchema.safeParse(job.data);
      if (!batch.success || batch.data.channel !== channel) {
        return buryUnparseable(
          job,
          job.data,
          batch.success ? `batch for ${batch.data.channel}` : batch.error.message,
        );
      }
      return processBatch(job, batch.data.lane, batchMembers(batch.data));
    }
    const result = await resolve(job.data);
    if ('problem' in result) return buryUnparseable(job, job.data, result.problem);
    // A lone delivery of a campaign (a retry) still honours the campaign's pause and cancel.
    if (
      result.job.campaignId &&
      (await holdBack(job.queueName, result.job.lane, [result.job])).length === 0
    )
      return;
    return processSingle(job, token, result.job);
  };
}

/** Maps `items` through `run`, at most `limit` at a time, keeping their order. */
async function mapInFlight<T, R>(
  items: readonly T[],
  limit: number,
  run: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const runner = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await run(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, runner));
  return results;
}

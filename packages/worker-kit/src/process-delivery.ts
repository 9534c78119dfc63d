import { DelayedError, Worker, type Job, type Queue } from 'bullmq';
import {
  deliveryJobSchema,
  toDeliveryError,
  type Channel,
  type DeliveryJob,
  type DeliveryJobFor,
  type DeliveryMetrics,
  type Logger,
} from '@herald/core';
import type { ChannelProvider, SendResult } from '@herald/channels';
import type { DeliveryLedger } from '@herald/db';
import type { AddressBook } from './address-book';
import type { AddressPacer } from './address-pacer';
import { CircuitOpenError, type ChannelCircuit } from './circuit';
import type { DeadLetters } from './dead-letters';
import type { FallbackChain } from './fallback';
import { decideJobOutcome } from './job-outcome';
import type { ProviderBudget } from './provider-budget';

export interface DeliveryProcessorDeps<C extends Channel> {
  provider: ChannelProvider<C>;
  ledger: DeliveryLedger;
  metrics: DeliveryMetrics;
  log: Logger;
  circuit: ChannelCircuit;
  deadLetters: DeadLetters;
  fallback: FallbackChain;
  addressBook: AddressBook;
  /** This channel's lane queues by name, for fleet-wide pauses (queue.rateLimit). */
  laneQueues: Map<string, Queue>;
  /** Provider-wide rate shared by the lanes (absent: no limit). */
  budget?: ProviderBudget;
  /** Per-address pacing (Telegram: one message per chat per second). */
  pacer?: { pacer: AddressPacer; addressOf(job: DeliveryJobFor<C>): string | undefined };
}

/**
 * Sends one delivery job. In order: parse at the boundary; wait for the
 * provider budget and the address's slot without spending an attempt; send
 * through the circuit breaker; record the attempt durably; then either
 * finish, let BullMQ retry, pause the channel fleet-wide, or dead-letter.
 */
export function createDeliveryProcessor<C extends Channel>(deps: DeliveryProcessorDeps<C>) {
  const { provider, ledger, metrics, log, circuit } = deps;
  const channel = provider.channel;

  /** Pause every lane of the channel, for every replica, and put this job back in wait. */
  async function pauseChannel(ms: number): Promise<never> {
    await Promise.all([...deps.laneQueues.values()].map((q) => q.rateLimit(ms)));
    throw Worker.RateLimitError();
  }

  async function bury(job: Job, payload: DeliveryJob, reason: string): Promise<void> {
    await deps.deadLetters.bury({
      deliveryId: payload.deliveryId,
      notificationId: payload.notificationId,
      lane: payload.lane,
      queue: job.queueName,
      reason,
      attemptsMade: job.attemptsMade + 1,
      job: job.data,
    });
    metrics.deliveries.inc({ channel, lane: payload.lane, outcome: 'dead' });
  }

  return async function processDelivery(job: Job, token?: string): Promise<SendResult | undefined> {
    const attempt = job.attemptsMade + 1;
    const maxAttempts = job.opts.attempts ?? 1;
    const parsed = deliveryJobSchema.safeParse(job.data);
    if (!parsed.success || parsed.data.channel !== channel) {
      await buryUnparseable(
        job,
        parsed.success
          ? `job for ${parsed.data.channel} on a ${channel} queue`
          : parsed.error.message,
      );
      return undefined;
    }
    const payload = parsed.data as DeliveryJobFor<C>;
    const { deliveryId, lane } = payload;
    const jobLog = log.child({ jobId: job.id, deliveryId, notificationId: payload.notificationId });

    if (deps.budget) {
      const wait = await deps.budget.take(lane);
      if (wait > 0) {
        await deps.laneQueues.get(job.queueName)?.rateLimit(wait);
        throw Worker.RateLimitError();
      }
    }
    const address = deps.pacer?.addressOf(payload);
    if (deps.pacer && address !== undefined) {
      const wait = await deps.pacer.pacer.claim(address);
      if (wait > 0) {
        await job.moveToDelayed(Date.now() + wait, token);
        throw new DelayedError();
      }
    }

    ledger.markSending(deliveryId);
    const startedAt = new Date();
    const started = performance.now();
    let result: SendResult;
    try {
      result = await circuit.fire(() =>
        provider.send(payload, {
          deliveryId,
          notificationId: payload.notificationId,
          campaignId: payload.campaignId,
          lane,
          attempt,
          log: jobLog,
        }),
      );
    } catch (err) {
      if (err instanceof CircuitOpenError) {
        // Not an attempt: the job waits, every replica stops fetching for a while.
        await ledger.setStatus({ deliveryId, status: 'queued', from: ['sending'] });
        return pauseChannel(err.retryInMs);
      }
      const durationMs = performance.now() - started;
      metrics.providerDuration.observe({ channel }, durationMs / 1000);
      const error = toDeliveryError(err);
      const decision = decideJobOutcome(error, attempt, maxAttempts);
      const reason = `${error.code}: ${error.message}`.slice(0, 1000);
      await ledger.record({
        deliveryId,
        attempt,
        at: startedAt,
        outcome: decision.outcome,
        errorCode: error.code,
        error: error.message,
        durationMs,
        status: decision.action === 'dead-letter' ? 'failed' : 'queued',
        reason: decision.action === 'dead-letter' ? reason : undefined,
      });
      jobLog.warn(
        { errorCode: error.code, kind: error.kind, attempt, action: decision.action },
        'delivery attempt failed',
      );
      switch (decision.action) {
        case 'pause-channel':
          metrics.deliveries.inc({ channel, lane, outcome: 'retried' });
          return pauseChannel(decision.delayMs);
        case 'retry':
          metrics.deliveries.inc({ channel, lane, outcome: 'retried' });
          throw decision.throwable;
        case 'dead-letter':
          metrics.deliveries.inc({ channel, lane, outcome: 'failed' });
          await bury(job, payload, reason);
          await deps.addressBook.learnFromFailure(payload, error.code, error.message);
          await deps.fallback.next(payload, reason);
          // The DLQ now holds it: finish the lane job so it leaves the queue.
          return undefined;
      }
    }

    const durationMs = performance.now() - started;
    metrics.providerDuration.observe({ channel }, durationMs / 1000);
    await ledger.record({
      deliveryId,
      attempt,
      at: startedAt,
      outcome: 'sent',
      providerMessageId: result.providerMessageId,
      durationMs,
      status: 'sent',
    });
    metrics.deliveries.inc({ channel, lane, outcome: 'sent' });
    metrics.endToEnd.observe(
      { channel, lane },
      Math.max(0, Date.now() - payload.acceptedAt) / 1000,
    );
    await deps.addressBook.learnFromSuccess(payload, result.movedTo);
    if (payload.fallback?.length) await deps.fallback.skipRest(payload);
    return result;
  };

  /** A payload that does not parse can never succeed: dead-letter it at once, recording why. */
  async function buryUnparseable(job: Job, problem: string): Promise<void> {
    const reason = `invalid_payload: ${problem}`.slice(0, 1000);
    const data = job.data as
      { deliveryId?: unknown; notificationId?: unknown; lane?: unknown } | undefined;
    const deliveryId = typeof data?.deliveryId === 'string' ? data.deliveryId : String(job.id);
    const lane = data?.lane === 'campaign' ? 'campaign' : 'transactional';
    log.error({ jobId: job.id, queue: job.queueName }, 'job payload does not parse');
    if (/^[0-9a-f-]{36}$/i.test(deliveryId)) {
      await ledger.record({
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
      job: job.data,
    });
    metrics.deliveries.inc({ channel, lane, outcome: 'dead' });
  }
}

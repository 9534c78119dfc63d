import { UnrecoverableError, type Job } from 'bullmq';
import {
  parseDeliveryJob,
  toDeliveryError,
  type Channel,
  type DeliveryJobFor,
  type DeliveryMetrics,
  type Logger,
} from '@herald/core';
import type { ChannelProvider, SendResult } from '@herald/channels';
import type { DeliveryLedger } from '@herald/db';
import { decideJobOutcome } from './job-outcome';

export interface DeliveryProcessorDeps<C extends Channel> {
  provider: ChannelProvider<C>;
  ledger: DeliveryLedger;
  metrics: DeliveryMetrics;
  log: Logger;
}

/**
 * Sends one delivery job: parse at the boundary, send, record the attempt
 * (durably, before BullMQ hears the outcome), then let BullMQ retry or not.
 */
export function createDeliveryProcessor<C extends Channel>(deps: DeliveryProcessorDeps<C>) {
  const { provider, ledger, metrics, log } = deps;
  const channel = provider.channel;

  return async function processDelivery(job: Job): Promise<SendResult> {
    const attempt = job.attemptsMade + 1;
    const maxAttempts = job.opts.attempts ?? 1;
    const payload = await parseOrFail(job, channel, deps);
    const { deliveryId, lane } = payload;
    const jobLog = log.child({ jobId: job.id, deliveryId, notificationId: payload.notificationId });

    ledger.markSending(deliveryId);
    const startedAt = new Date();
    const started = performance.now();
    try {
      const result = await provider.send(payload, {
        deliveryId,
        notificationId: payload.notificationId,
        campaignId: payload.campaignId,
        lane,
        attempt,
        log: jobLog,
      });
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
      return result;
    } catch (err) {
      const durationMs = performance.now() - started;
      metrics.providerDuration.observe({ channel }, durationMs / 1000);
      const error = toDeliveryError(err);
      const decision = decideJobOutcome(error, attempt, maxAttempts);
      await ledger.record({
        deliveryId,
        attempt,
        at: startedAt,
        outcome: decision.outcome,
        errorCode: error.code,
        error: error.message,
        durationMs,
        status: decision.final ? 'failed' : 'queued',
        reason: decision.final ? `${error.code}: ${error.message}` : undefined,
      });
      metrics.deliveries.inc({ channel, lane, outcome: decision.final ? 'failed' : 'retried' });
      jobLog.warn(
        { errorCode: error.code, kind: error.kind, attempt, final: decision.final },
        'delivery attempt failed',
      );
      throw decision.throwable;
    }
  };
}

/** A payload that does not parse can never succeed: fail it without retries, recording why. */
async function parseOrFail<C extends Channel>(
  job: Job,
  channel: C,
  deps: DeliveryProcessorDeps<C>,
): Promise<DeliveryJobFor<C>> {
  try {
    return parseDeliveryJob(channel, job.data);
  } catch (err) {
    const reason = `invalid_payload: ${(err as Error).message.slice(0, 500)}`;
    const deliveryId = (job.data as { deliveryId?: unknown } | undefined)?.deliveryId;
    deps.log.error({ jobId: job.id, queue: job.queueName }, 'job payload does not parse');
    if (typeof deliveryId === 'string' && /^[0-9a-f-]{36}$/i.test(deliveryId)) {
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
    throw new UnrecoverableError(reason);
  }
}

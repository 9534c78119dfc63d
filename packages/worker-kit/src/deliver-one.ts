import {
  toDeliveryError,
  type Channel,
  type DeliveryError,
  type DeliveryJobFor,
  type DeliveryMetrics,
  type DeliveryOutcomeLabel,
  type Lane,
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

/** A send still running after this long shows as "sending". */
export const SENDING_VISIBLE_AFTER_MS = 500;

export type PauseScope = 'lane' | 'channel';

/** What became of one delivery; the caller maps it onto BullMQ. */
export type DeliveryOutcome =
  | { kind: 'sent'; result: SendResult }
  /** Failed for good: recorded, dead-lettered, fallback started. */
  | { kind: 'dead' }
  /** A transient failure, recorded: try again after a backoff. */
  | { kind: 'retry'; attempt: number; error: DeliveryError }
  /**
   * Not sent, no attempt spent: wait `ms`. Scope `lane`: this lane ran short
   * of the shared provider budget (the other lane may still have its share).
   * Scope `channel`: the provider or our breaker wants every lane to wait.
   */
  | { kind: 'pause'; ms: number; scope: PauseScope }
  /** Not sent, no attempt spent: this address is busy for `ms` (per-address pacing). */
  | { kind: 'defer'; ms: number };

export interface DeliverDeps<C extends Channel> {
  provider: ChannelProvider<C>;
  ledger: DeliveryLedger;
  metrics: DeliveryMetrics;
  log: Logger;
  circuit: ChannelCircuit;
  deadLetters: DeadLetters;
  fallback: FallbackChain;
  addressBook: AddressBook;
  budget?: ProviderBudget;
  pacer?: { pacer: AddressPacer; addressOf(job: DeliveryJobFor<C>): string | undefined };
}

/**
 * Delivers one message: wait for the provider budget and the address's slot
 * (without spending an attempt), send through the circuit breaker, record the
 * attempt durably, and settle failures that are final (DLQ, address book,
 * fallback). The same for a single job and for each member of a batch.
 */
export function createDeliverOne<C extends Channel>(deps: DeliverDeps<C>) {
  const { provider, ledger, metrics, circuit } = deps;
  const channel = provider.channel;
  // Label children resolved once: the hot path skips prom-client's label hashing.
  const providerDuration = metrics.providerDuration.labels(channel);
  const counted = (lane: Lane, outcome: DeliveryOutcomeLabel) =>
    metrics.deliveries.labels(channel, lane, outcome);
  const sentCounter = {
    transactional: counted('transactional', 'sent'),
    campaign: counted('campaign', 'sent'),
  };
  const endToEnd = {
    transactional: metrics.endToEnd.labels(channel, 'transactional'),
    campaign: metrics.endToEnd.labels(channel, 'campaign'),
  };

  return async function deliverOne(
    payload: DeliveryJobFor<C>,
    attempt: number,
    maxAttempts: number,
    source: { queue: string; jobId?: string },
  ): Promise<DeliveryOutcome> {
    const { deliveryId, lane } = payload;
    const numbered = attemptNumber(payload, attempt);
    if (deps.budget) {
      const wait = await deps.budget.take(lane);
      if (wait > 0) return { kind: 'pause', ms: wait, scope: 'lane' };
    }
    const address = deps.pacer?.addressOf(payload);
    if (deps.pacer && address !== undefined) {
      const wait = await deps.pacer.pacer.claim(address);
      if (wait > 0) return { kind: 'defer', ms: wait };
    }

    // "sending" is written only for sends that take a while: a fast send goes
    // straight from queued to sent, saving the database a write per message.
    const markSending = setTimeout(() => ledger.markSending(deliveryId), SENDING_VISIBLE_AFTER_MS);
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
          attempt: numbered,
          log: deps.log,
        }),
      );
    } catch (err) {
      clearTimeout(markSending);
      if (err instanceof CircuitOpenError) {
        await ledger.setStatus({ deliveryId, status: 'queued', from: ['sending'] });
        return { kind: 'pause', ms: err.retryInMs, scope: 'channel' };
      }
      return settleFailure(
        payload,
        err,
        attempt,
        maxAttempts,
        startedAt,
        performance.now() - started,
        source,
      );
    }
    clearTimeout(markSending);
    const durationMs = performance.now() - started;
    providerDuration.observe(durationMs / 1000);
    await ledger.record({
      deliveryId,
      attempt: numbered,
      at: startedAt,
      outcome: 'sent',
      providerMessageId: result.providerMessageId,
      durationMs,
      status: 'sent',
    });
    sentCounter[lane].inc();
    endToEnd[lane].observe(Math.max(0, Date.now() - payload.acceptedAt) / 1000);
    if (result.movedTo) await deps.addressBook.learnFromSuccess(payload, result.movedTo);
    if (payload.fallback?.length) await deps.fallback.skipRest(payload);
    return { kind: 'sent', result };
  };

  async function settleFailure(
    payload: DeliveryJobFor<C>,
    err: unknown,
    attempt: number,
    maxAttempts: number,
    startedAt: Date,
    durationMs: number,
    source: { queue: string; jobId?: string },
  ): Promise<DeliveryOutcome> {
    const { deliveryId, lane } = payload;
    const numbered = attemptNumber(payload, attempt);
    providerDuration.observe(durationMs / 1000);
    const error = toDeliveryError(err);
    const decision = decideJobOutcome(error, attempt, maxAttempts);
    const dead = decision.action === 'dead-letter';
    const reason = `${error.code}: ${error.message}`.slice(0, 1000);
    await ledger.record({
      deliveryId,
      attempt: numbered,
      at: startedAt,
      outcome: decision.outcome,
      errorCode: error.code,
      error: error.message,
      durationMs,
      status: dead ? 'failed' : 'queued',
      reason: dead ? reason : undefined,
    });
    deps.log.warn(
      {
        deliveryId,
        jobId: source.jobId,
        errorCode: error.code,
        kind: error.kind,
        attempt: numbered,
        action: decision.action,
      },
      'delivery attempt failed',
    );
    if (decision.action === 'pause-channel') {
      metrics.deliveries.inc({ channel, lane, outcome: 'retried' });
      return { kind: 'pause', ms: decision.delayMs, scope: 'channel' };
    }
    if (decision.action === 'open-circuit') {
      metrics.deliveries.inc({ channel, lane, outcome: 'retried' });
      return { kind: 'pause', ms: circuit.trip(), scope: 'channel' };
    }
    if (decision.action === 'retry') {
      metrics.deliveries.inc({ channel, lane, outcome: 'retried' });
      return { kind: 'retry', attempt, error };
    }
    metrics.deliveries.inc({ channel, lane, outcome: 'failed' });
    const buried = await deps.deadLetters.bury({
      deliveryId,
      notificationId: payload.notificationId,
      lane,
      queue: source.queue,
      reason,
      attemptsMade: numbered,
      job: payload,
    });
    if (buried) metrics.deliveries.inc({ channel, lane, outcome: 'dead' });
    await deps.addressBook.learnFromFailure(payload, error.code, error.message);
    await deps.fallback.next(payload, reason);
    return { kind: 'dead' };
  }
}

/**
 * The number an attempt is recorded under. `attempt` counts this run's
 * attempts (the retry budget); after a redrive the history carries on from
 * the attempts before it.
 */
function attemptNumber(payload: { attemptsBefore?: number }, attempt: number): number {
  return (payload.attemptsBefore ?? 0) + attempt;
}

export type DeliverOne<C extends Channel> = ReturnType<typeof createDeliverOne<C>>;

import { UnrecoverableError } from 'bullmq';
import type { DeliveryError } from '@herald/core';
import type { AttemptOutcome } from '@herald/db';

export interface JobOutcome {
  /** No attempt follows: the delivery is failed. */
  final: boolean;
  outcome: AttemptOutcome;
  /** What the processor throws so BullMQ does the right thing. */
  throwable: Error;
}

const OUTCOME_BY_KIND: Record<DeliveryError['kind'], AttemptOutcome> = {
  transient: 'transient_error',
  permanent: 'permanent_error',
  rate_limited: 'rate_limited',
};

/**
 * The one place where a classified delivery error becomes BullMQ behaviour.
 * Permanent: UnrecoverableError (no retry). Otherwise rethrow, and BullMQ
 * retries with our backoff strategy (which reads retryAfterMs) until the
 * attempts run out.
 */
export function decideJobOutcome(
  error: DeliveryError,
  attempt: number,
  maxAttempts: number,
): JobOutcome {
  const outcome = OUTCOME_BY_KIND[error.kind];
  if (error.kind === 'permanent') {
    return {
      final: true,
      outcome,
      throwable: new UnrecoverableError(`${error.code}: ${error.message}`),
    };
  }
  return { final: attempt >= maxAttempts, outcome, throwable: error };
}

import type { DeliveryError } from '@herald/core';
import type { AttemptOutcome } from '@herald/db';

export type JobOutcome =
  /** Rethrow: BullMQ retries after our backoff (which honours retryAfterMs). */
  | { action: 'retry'; outcome: AttemptOutcome; throwable: Error }
  /** The provider throttles us as a whole: pause the channel's lanes fleet-wide; no attempt spent. */
  | { action: 'pause-channel'; outcome: AttemptOutcome; delayMs: number }
  /**
   * Our configuration is wrong (credentials, certificates): open the breaker
   * now, which pauses the channel's lanes fleet-wide until the half-open
   * probe; no attempt spent, never dead-lettered.
   */
  | { action: 'open-circuit'; outcome: AttemptOutcome }
  /** No attempt follows: failed, into the DLQ. */
  | { action: 'dead-letter'; outcome: AttemptOutcome };

const OUTCOME_BY_KIND: Record<DeliveryError['kind'], AttemptOutcome> = {
  transient: 'transient_error',
  permanent: 'permanent_error',
  rate_limited: 'rate_limited',
  misconfigured: 'transient_error',
};

/** Used when a provider says "slow down" without saying for how long. */
export const DEFAULT_PAUSE_MS = 1000;

/** The one place where a classified delivery error becomes BullMQ behaviour. */
export function decideJobOutcome(
  error: DeliveryError,
  attempt: number,
  maxAttempts: number,
): JobOutcome {
  const outcome = OUTCOME_BY_KIND[error.kind];
  if (error.kind === 'permanent') return { action: 'dead-letter', outcome };
  if (error.kind === 'misconfigured') return { action: 'open-circuit', outcome };
  if (error.kind === 'rate_limited' && error.scope === 'provider') {
    return { action: 'pause-channel', outcome, delayMs: error.retryAfterMs ?? DEFAULT_PAUSE_MS };
  }
  if (attempt >= maxAttempts) return { action: 'dead-letter', outcome };
  return { action: 'retry', outcome, throwable: error };
}

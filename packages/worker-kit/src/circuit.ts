import CircuitBreaker from 'opossum';
import { DeliveryError, type BreakerConfig } from '@herald/core';

export type CircuitState = 'closed' | 'half_open' | 'open';

/** herald_circuit_state values. */
export const CIRCUIT_STATE_VALUE: Record<CircuitState, number> = {
  closed: 0,
  half_open: 1,
  open: 2,
};

/** Thrown instead of calling the provider while the circuit is open. */
export class CircuitOpenError extends Error {
  constructor(readonly retryInMs: number) {
    super('circuit open');
    this.name = 'CircuitOpenError';
  }
}

export interface ChannelCircuit {
  readonly state: CircuitState;
  fire<T>(call: () => Promise<T>): Promise<T>;
  /**
   * Opens the circuit now, whatever the counts say (a configuration fault:
   * every further call would fail the same way). Returns how long until
   * the half-open probe.
   */
  trip(): number;
  shutdown(): void;
}

/**
 * One breaker per channel per process (opossum). Failures count only when
 * they are the provider's (transient, rate limited): a permanent
 * per-recipient error says nothing about the provider's health. A
 * configuration fault does not wait for the counts: the caller trips it.
 */
export function createChannelCircuit(
  config: BreakerConfig,
  onStateChange: (state: CircuitState) => void,
): ChannelCircuit {
  const breaker = new CircuitBreaker((call: () => Promise<unknown>) => call(), {
    timeout: false, // providers own their timeouts
    // opossum opens on a rate strictly above the threshold; ours is "at least".
    errorThresholdPercentage: config.errorPercent - 1e-9,
    volumeThreshold: config.volume,
    rollingCountTimeout: config.windowMs,
    rollingCountBuckets: 10,
    resetTimeout: config.resetMs,
    errorFilter: (err: unknown) => err instanceof DeliveryError && err.kind === 'permanent',
  });
  let state: CircuitState = 'closed';
  let openedAt = 0;
  const set = (next: CircuitState) => {
    state = next;
    if (next === 'open') openedAt = Date.now();
    onStateChange(next);
  };
  breaker.on('open', () => set('open'));
  breaker.on('halfOpen', () => set('half_open'));
  breaker.on('close', () => set('closed'));

  const untilProbe = () =>
    Math.max(250, state === 'open' ? config.resetMs - (Date.now() - openedAt) : 1000);

  return {
    get state() {
      return state;
    },
    trip() {
      breaker.open(); // no-op when already open: the probe timer keeps running
      return untilProbe();
    },
    async fire<T>(call: () => Promise<T>): Promise<T> {
      try {
        return (await breaker.fire(call)) as T;
      } catch (err) {
        if ((err as { code?: string }).code === 'EOPENBREAKER') {
          throw new CircuitOpenError(untilProbe());
        }
        throw err;
      }
    },
    shutdown() {
      breaker.shutdown();
    },
  };
}

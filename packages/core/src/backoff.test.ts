import { backoffDelayMs } from './backoff';

const policy = { baseMs: 1000, maxMs: 600_000 };

describe('backoffDelayMs (exponential, full jitter)', () => {
  it('draws uniformly below base * 2^(n-1)', () => {
    expect(backoffDelayMs(1, policy, undefined, () => 0.999)).toBe(999);
    expect(backoffDelayMs(2, policy, undefined, () => 0.5)).toBe(1000);
    expect(backoffDelayMs(4, policy, undefined, () => 0.5)).toBe(4000);
    expect(backoffDelayMs(3, policy, undefined, () => 0)).toBe(0);
  });

  it('never exceeds the cap', () => {
    for (let n = 1; n < 60; n++) {
      expect(backoffDelayMs(n, policy, undefined, () => 0.999_999)).toBeLessThan(policy.maxMs);
    }
  });

  it('spreads retries: 1,000 draws are not all alike', () => {
    const draws = new Set(Array.from({ length: 1000 }, () => backoffDelayMs(5, policy)));
    expect(draws.size).toBeGreaterThan(900);
  });

  it('honours a provider Retry-After, adding at most one base of jitter', () => {
    const d = backoffDelayMs(1, policy, 30_000, () => 0.5);
    expect(d).toBe(30_500);
    expect(backoffDelayMs(1, policy, 30_000, () => 0)).toBe(30_000);
  });

  it('lets a Retry-After beyond the cap through rather than retry early', () => {
    expect(backoffDelayMs(1, { baseMs: 10, maxMs: 100 }, 5000, () => 0)).toBe(5000);
  });
});

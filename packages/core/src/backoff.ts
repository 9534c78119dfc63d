export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/**
 * Exponential backoff with full jitter (AWS architecture blog, "Exponential
 * Backoff And Jitter"): a uniform draw in [0, min(cap, base * 2^(n-1))].
 * A provider's explicit wait wins when it is longer than the draw.
 */
export function backoffDelayMs(
  attemptsMade: number,
  policy: BackoffPolicy,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, attemptsMade - 1);
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** exponent);
  const jittered = Math.floor(random() * ceiling);
  if (retryAfterMs === undefined) return jittered;
  // Honour Retry-After, and spread the herd a little beyond it.
  return Math.min(
    Math.max(retryAfterMs, 0) + Math.floor(random() * policy.baseMs),
    Math.max(policy.maxMs, retryAfterMs),
  );
}

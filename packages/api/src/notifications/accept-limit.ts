import type { Redis } from '@herald/core';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { ProblemError } from '../problem';

/** Takes `count` notifications from a caller's allowance, or throws a 429 problem. */
export type AcceptLimit = (owner: string, count: number) => Promise<void>;

/**
 * How many notifications one caller (token `sub`) may have accepted per
 * minute, counted across every gateway process and replica in Redis (a fixed
 * window); a batch counts its items. While Redis is away each process counts
 * on its own, so the limit never makes Redis a condition of accepting (the
 * outbox is what carries accepted notifications through such an outage).
 */
export function createAcceptLimit(redis: Redis, prefix: string, perMinute: number): AcceptLimit {
  const limiter = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}:accept-limit`,
    points: perMinute,
    duration: 60,
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({ points: perMinute, duration: 60 }),
  });
  return async (owner, count) => {
    try {
      await limiter.consume(owner, count);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const seconds = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
      throw new ProblemError(
        429,
        'Too many notifications',
        count > perMinute
          ? `This request holds ${count} notifications; a caller may send ${perMinute} a minute.`
          : `A caller may send ${perMinute} notifications a minute; retry in ${seconds} s.`,
        { headers: { 'Retry-After': String(seconds) } },
      );
    }
  };
}

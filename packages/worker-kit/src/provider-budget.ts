import type { Lane, Redis } from '@herald/core';

/**
 * A token bucket in Redis shared by every replica and both lanes of a
 * channel: the provider's rate (Telegram: 30/s) holds fleet-wide.
 * Transactional first: while transactional traffic is flowing (it asked for
 * a token in the last second, whether or not it got one), the campaign lane
 * may only use tokens above a reserve, so a campaign can never crowd out a
 * password reset.
 */
const TAKE_TOKEN = `
local rate = tonumber(ARGV[1])
local reserve = tonumber(ARGV[2])
local lane = ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or rate
local ts = tonumber(state[2]) or now
tokens = math.min(rate, tokens + math.max(0, now - ts) * rate / 1000)
local floor = 0
if lane ~= 'transactional' and redis.call('EXISTS', KEYS[2]) == 1 then floor = reserve end
-- A transactional send that has to wait counts as demand too: otherwise the
-- campaign lane could take each refilled token first and starve it.
if lane == 'transactional' then redis.call('SET', KEYS[2], '1', 'PX', 1000) end
local wait = 0
if tokens >= floor + 1 then
  tokens = tokens - 1
else
  wait = math.ceil((floor + 1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], 60000)
return wait
`;

export interface ProviderBudget {
  /** 0 when a send may go ahead now, else how long (ms) this lane should wait. */
  take(lane: Lane): Promise<number>;
}

type BudgetRedis = Redis & {
  heraldTakeToken(
    bucketKey: string,
    demandKey: string,
    rate: number,
    reserve: number,
    lane: string,
  ): Promise<number>;
};

export function createProviderBudget(
  redis: Redis,
  options: {
    keyPrefix: string;
    channel: string;
    ratePerSecond: number;
    transactionalReserve?: number;
  },
): ProviderBudget {
  const r = redis as BudgetRedis;
  if (typeof r.heraldTakeToken !== 'function') {
    redis.defineCommand('heraldTakeToken', { numberOfKeys: 2, lua: TAKE_TOKEN });
  }
  const rate = options.ratePerSecond;
  const reserve = Math.max(1, Math.floor(rate * (options.transactionalReserve ?? 0.5)));
  const bucketKey = `${options.keyPrefix}:budget:${options.channel}`;
  const demandKey = `${options.keyPrefix}:budget:${options.channel}:transactional-demand`;
  return {
    take: (lane) => r.heraldTakeToken(bucketKey, demandKey, rate, reserve, lane),
  };
}

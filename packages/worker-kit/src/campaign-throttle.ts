import { campaignStateKey, type Redis } from '@herald/core';

/**
 * A campaign's `throttle.perSecond`, held where the sends happen and across
 * every replica. The fan-out already delays each paced job to its planned
 * time; this keeps the cap when jobs come due together anyway: workers that
 * were down or behind, the relay catching up after a Redis outage, retries.
 *
 * GCRA, one number per campaign in Redis: the time its next send is due
 * (TAT). A reservation takes the slot at max(TAT, now) and moves TAT on by
 * what the job costs (sends / perSecond). Every call reserves, also when it
 * has to wait: jobs that come due in a crowd get consecutive slots and each
 * waits once, rather than all retrying for the same slot. A paused or
 * cancelled campaign reserves nothing: its jobs are held back or settled
 * without sending, and slots taken for them would slow it after a resume.
 */
const RESERVE_SLOT = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local cost = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
local nextTat = tat + cost
redis.call('SET', KEYS[1], string.format('%.3f', nextTat), 'PX', math.ceil(nextTat - now) + 60000)
return math.ceil(wait)
`;

/**
 * How early a send may go before its slot: absorbs the jitter of delayed jobs
 * coming due (a few ms) without moving every job of a campaign that runs on
 * time. Never more than one job's own cost, so the cap holds at high rates.
 */
export const THROTTLE_TOLERANCE_MS = 20;

export interface CampaignThrottle {
  /**
   * Reserves the slot for `sends` deliveries of a campaign capped at
   * `perSecond`: 0 when they may go now, else the ms until their slot (which
   * is theirs: send then without reserving again). 0, reserving nothing,
   * while the campaign is paused or cancelled.
   */
  reserve(campaignId: string, perSecond: number, sends: number): Promise<number>;
}

type ThrottleRedis = Redis & {
  heraldReserveCampaignSlot(
    key: string,
    stateKey: string,
    costMs: number,
    toleranceMs: number,
  ): Promise<number>;
};

export function createCampaignThrottle(
  redis: Redis,
  options: { keyPrefix: string },
): CampaignThrottle {
  const r = redis as ThrottleRedis;
  if (typeof r.heraldReserveCampaignSlot !== 'function') {
    redis.defineCommand('heraldReserveCampaignSlot', { numberOfKeys: 2, lua: RESERVE_SLOT });
  }
  return {
    reserve(campaignId, perSecond, sends) {
      const costMs = (sends * 1000) / perSecond;
      return r.heraldReserveCampaignSlot(
        `${options.keyPrefix}:campaign-throttle:${campaignId}`,
        campaignStateKey(options.keyPrefix, campaignId),
        costMs,
        Math.min(THROTTLE_TOLERANCE_MS, costMs),
      );
    },
  };
}

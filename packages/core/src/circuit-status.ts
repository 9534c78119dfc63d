import type { Redis } from 'ioredis';
import type { Channel } from './topology';

/**
 * Circuit breakers live in worker processes; operators ask the gateway. Each
 * worker process publishes its breaker's state under its instance id, with a
 * timestamp; a report older than the TTL is ignored (that process is gone).
 */
export type PublishedCircuitState = 'closed' | 'half_open' | 'open';
export const CIRCUIT_REPORT_TTL_MS = 60_000;

const keyOf = (prefix: string, channel: Channel) => `${prefix}:circuit:${channel}`;

export async function publishCircuitState(
  redis: Redis,
  prefix: string,
  channel: Channel,
  instanceId: string,
  state: PublishedCircuitState,
): Promise<void> {
  await redis.hset(keyOf(prefix, channel), instanceId, `${state}|${Date.now()}`);
}

export async function withdrawCircuitState(
  redis: Redis,
  prefix: string,
  channel: Channel,
  instanceId: string,
): Promise<void> {
  await redis.hdel(keyOf(prefix, channel), instanceId);
}

const SEVERITY: Record<PublishedCircuitState, number> = { closed: 0, half_open: 1, open: 2 };

/** The worst state any live replica reports, or "unknown" when none reports. */
export async function readCircuitState(
  redis: Redis,
  prefix: string,
  channel: Channel,
  now = Date.now(),
): Promise<PublishedCircuitState | 'unknown'> {
  const reports = await redis.hgetall(keyOf(prefix, channel));
  let worst: PublishedCircuitState | 'unknown' = 'unknown';
  for (const value of Object.values(reports)) {
    const [state, at] = value.split('|') as [PublishedCircuitState, string];
    if (!(state in SEVERITY) || now - Number(at) > CIRCUIT_REPORT_TTL_MS) continue;
    if (worst === 'unknown' || SEVERITY[state] > SEVERITY[worst]) worst = state;
  }
  return worst;
}

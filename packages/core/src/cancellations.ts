import type { Redis } from 'ioredis';

/**
 * Cancellation and pause markers that workers read once per job (one MGET
 * for a whole batch), so cancelling costs no database query per message.
 * Postgres stays the record; these keys only stop work already in Redis.
 */
const CANCELLED_TTL_SECONDS = 14 * 24 * 3600;

const deliveryKey = (prefix: string, id: string) => `${prefix}:cancelled:${id}`;
/** Set while a campaign is paused or cancelled (its value says which); absent while it runs. */
export const campaignStateKey = (prefix: string, id: string) => `${prefix}:campaign-state:${id}`;

export type CampaignRunState = 'paused' | 'cancelled';

export async function markDeliveriesCancelled(
  redis: Redis,
  prefix: string,
  deliveryIds: readonly string[],
): Promise<void> {
  if (deliveryIds.length === 0) return;
  const pipeline = redis.pipeline();
  for (const id of deliveryIds)
    pipeline.set(deliveryKey(prefix, id), '1', 'EX', CANCELLED_TTL_SECONDS);
  await pipeline.exec();
}

export async function setCampaignRunState(
  redis: Redis,
  prefix: string,
  campaignId: string,
  state: CampaignRunState | 'running',
): Promise<void> {
  if (state === 'running') await redis.del(campaignStateKey(prefix, campaignId));
  else await redis.set(campaignStateKey(prefix, campaignId), state, 'EX', CANCELLED_TTL_SECONDS);
}

export interface HeldDeliveries {
  /** Deliveries not to send: cancelled themselves, or their campaign was. */
  cancelled: Set<string>;
  /** Deliveries whose campaign is paused: keep them for later. */
  paused: Set<string>;
}

/** One round trip for a whole batch: which members must not be sent now. */
export async function findHeldDeliveries(
  redis: Redis,
  prefix: string,
  members: readonly { deliveryId: string; campaignId?: string }[],
): Promise<HeldDeliveries> {
  const held: HeldDeliveries = { cancelled: new Set(), paused: new Set() };
  if (members.length === 0) return held;
  const campaigns = [...new Set(members.flatMap((m) => (m.campaignId ? [m.campaignId] : [])))];
  const values = await redis.mget([
    ...members.map((m) => deliveryKey(prefix, m.deliveryId)),
    ...campaigns.map((c) => campaignStateKey(prefix, c)),
  ]);
  const campaignState = new Map(campaigns.map((c, i) => [c, values[members.length + i]] as const));
  members.forEach((m, i) => {
    const state = m.campaignId ? campaignState.get(m.campaignId) : undefined;
    if (values[i] || state === 'cancelled') held.cancelled.add(m.deliveryId);
    else if (state === 'paused') held.paused.add(m.deliveryId);
  });
  return held;
}

/**
 * Queue topology: the one place that names queues.
 *
 * WARNING: these names are persisted in Redis (BullMQ keys) and in the
 * `outbox` table. Renaming one strands every job already queued under it.
 */
export const CHANNELS = ['email', 'telegram', 'push', 'webhook'] as const;
export type Channel = (typeof CHANNELS)[number];

/** Transactional traffic has its own queue per channel so a campaign backlog can never starve it. */
export const LANES = ['transactional', 'campaign'] as const;
export type Lane = (typeof LANES)[number];

/** Default BullMQ key prefix. The braces are a Redis Cluster hash tag: every key lands in one slot. */
export const DEFAULT_QUEUE_PREFIX = '{herald}';

export function laneQueueName(channel: Channel, lane: Lane): string {
  return `${channel}.${lane}`;
}

export function deadLetterQueueName(channel: Channel): string {
  return `${channel}.dlq`;
}

export interface LaneQueue {
  readonly channel: Channel;
  readonly lane: Lane;
  readonly name: string;
}

export function laneQueues(channel: Channel): LaneQueue[] {
  return LANES.map((lane) => ({ channel, lane, name: laneQueueName(channel, lane) }));
}

export function allLaneQueues(): LaneQueue[] {
  return CHANNELS.flatMap(laneQueues);
}

export function parseLaneQueueName(name: string): LaneQueue | undefined {
  const [channel, lane] = name.split('.');
  if (!(CHANNELS as readonly string[]).includes(channel ?? '')) return undefined;
  if (!(LANES as readonly string[]).includes(lane ?? '')) return undefined;
  return { channel: channel as Channel, lane: lane as Lane, name };
}

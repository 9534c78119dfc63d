import {
  JOB_PAYLOAD_VERSION,
  enqueueJobs,
  laneQueueName,
  type Channel,
  type Lane,
  type RetryConfig,
} from '@herald/core';
import {
  groupOutboxJobs,
  insertNotifications,
  type AcceptedNotification,
  type Database,
} from '@herald/db';
import type { Queue } from 'bullmq';
import { v7 as uuid } from 'uuid';

/**
 * Accepts `count` single-delivery notifications exactly as the gateway does
 * (one statement per 1,000, then enqueue), without HTTP in the way.
 */
export async function seedDeliveries(options: {
  db: Database;
  queues: Map<string, Queue>;
  retry: RetryConfig;
  count: number;
  channel: Channel;
  lane: Lane;
  to: (i: number) => Record<string, unknown>;
  content: Record<string, unknown>;
  /** Deliveries per BullMQ job (1: a job each, as single sends make). */
  perJob?: number;
}): Promise<void> {
  for (let start = 0; start < options.count; start += 1000) {
    const items: AcceptedNotification[] = [];
    for (let i = start; i < Math.min(options.count, start + 1000); i++) {
      const id = uuid();
      const deliveryId = uuid();
      items.push({
        notification: {
          id,
          owner: 'bench',
          lane: options.lane,
          strategy: 'all',
          channels: [options.channel],
          content: { [options.channel]: options.content },
          dispatched: true,
          deliveries: [
            {
              id: deliveryId,
              channel: options.channel,
              lane: options.lane,
              position: 0,
              status: 'queued',
            },
          ],
        },
        outbox: [
          {
            jobId: deliveryId,
            deliveryId,
            queue: laneQueueName(options.channel, options.lane),
            payload: {
              v: JOB_PAYLOAD_VERSION,
              deliveryId,
              notificationId: id,
              lane: options.lane,
              acceptedAt: Date.now(),
              channel: options.channel,
              to: options.to(i),
              content: options.content,
            },
          },
        ],
      });
    }
    // Grouped into batch jobs exactly as the gateway's batch endpoint does.
    const { rows, due } = groupOutboxJobs(
      items.flatMap((i) => i.outbox),
      options.perJob,
    );
    const rowOf = new Map(rows.map((r) => [r.deliveryId, r]));
    for (const item of items) item.outbox = item.outbox.map((o) => rowOf.get(o.deliveryId)!);
    await insertNotifications(options.db.pool, items);
    const { failed } = await enqueueJobs(options.queues, due, options.retry, 30_000);
    if (failed.length > 0) throw failed[0]!.error;
  }
  await options.db.pool.query('DELETE FROM outbox');
}

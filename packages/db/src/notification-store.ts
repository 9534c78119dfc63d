import { planJobs, type Channel, type Lane, type PlannedJob } from '@herald/core';
import type pg from 'pg';
import type { DeliveryStatus } from './statuses';

export interface NewDelivery {
  id: string;
  channel: Channel;
  lane: Lane;
  position: number;
  status: DeliveryStatus;
  reason?: string;
  recipientId?: string;
}

export interface NewNotification {
  id: string;
  owner: string;
  lane: Lane;
  strategy: 'all' | 'fallback';
  channels: Channel[];
  recipientId?: string;
  campaignId?: string;
  to?: unknown;
  templateKey?: string;
  content?: unknown;
  data?: unknown;
  metadata?: unknown;
  category?: string;
  sendAt?: Date;
  /** False while it waits for its sendAt (the scheduler dispatches it). */
  dispatched: boolean;
  deliveries: NewDelivery[];
}

/** A delivery's job before it is grouped into a BullMQ job. */
export type UngroupedOutboxJob = Omit<OutboxJob, 'jobId'>;

/**
 * Groups outbox entries into BullMQ jobs (see planJobs): entries due now
 * together, scheduled ones per due time. Returns the rows to store (each with
 * its job id) and the jobs to enqueue now.
 */
export function groupOutboxJobs(
  entries: readonly UngroupedOutboxJob[],
  maxPerJob?: number,
): { rows: OutboxJob[]; due: PlannedJob[] } {
  const groups = new Map<number, UngroupedOutboxJob[]>();
  for (const entry of entries) {
    const key = entry.availableAt?.getTime() ?? 0;
    const group = groups.get(key);
    if (group) group.push(entry);
    else groups.set(key, [entry]);
  }
  const rows: OutboxJob[] = [];
  const due: PlannedJob[] = [];
  for (const [availableAt, group] of groups) {
    const planned = planJobs(group, maxPerJob);
    const jobIdOf = new Map(
      planned.flatMap((p) => p.deliveryIds.map((id) => [id, p.jobId] as const)),
    );
    rows.push(...group.map((e) => ({ ...e, jobId: jobIdOf.get(e.deliveryId)! })));
    if (availableAt === 0) due.push(...planned);
  }
  return { rows, due };
}

/** A job to enqueue, kept in Postgres until Redis has confirmed it. */
export interface OutboxJob {
  deliveryId: string;
  queue: string;
  /** The BullMQ job id it is (to be) enqueued under. */
  jobId: string;
  payload: unknown;
  /** Not before (a scheduled send); absent means now. */
  availableAt?: Date;
}

export interface IdempotencyClaim {
  owner: string;
  key: string;
  requestHash: string;
  /** The response body to replay for the same key and body. */
  response: unknown;
}

export interface AcceptedNotification {
  notification: NewNotification;
  outbox: OutboxJob[];
  idempotency?: IdempotencyClaim;
}

/** Idempotency keys are honoured for this long; an older key is reusable. */
export const IDEMPOTENCY_TTL_HOURS = 24;

/**
 * Writes notifications, their deliveries, outbox entries and idempotency
 * claims in ONE statement (one round trip, atomic, a constant four binds
 * whatever the batch size). An item whose idempotency key is already claimed
 * is not written; the caller looks the claim up and replays or refuses.
 *
 * Returns the ids of the notifications actually written.
 */
export async function insertNotifications(
  pool: pg.Pool,
  items: readonly AcceptedNotification[],
): Promise<Set<string>> {
  if (items.length === 0) return new Set();
  const notifications = items.map(({ notification: n, idempotency }) => ({
    id: n.id,
    owner: n.owner,
    lane: n.lane,
    strategy: n.strategy,
    channels: n.channels,
    recipient_id: n.recipientId ?? null,
    campaign_id: n.campaignId ?? null,
    to: n.to ?? null,
    template_key: n.templateKey ?? null,
    content: n.content ?? null,
    data: n.data ?? null,
    metadata: n.metadata ?? null,
    category: n.category ?? null,
    send_at: n.sendAt?.toISOString() ?? null,
    dispatched: n.dispatched,
    idempotent: idempotency !== undefined,
  }));
  const deliveries = items.flatMap(({ notification: n }) =>
    n.deliveries.map((d) => ({
      id: d.id,
      notification_id: n.id,
      campaign_id: n.campaignId ?? null,
      recipient_id: d.recipientId ?? n.recipientId ?? null,
      channel: d.channel,
      lane: d.lane,
      position: d.position,
      status: d.status,
      reason: d.reason ?? null,
    })),
  );
  const outbox = items.flatMap(({ outbox: jobs }) =>
    jobs.map((j) => ({
      delivery_id: j.deliveryId,
      queue: j.queue,
      job_id: j.jobId,
      payload: j.payload,
      available_at: j.availableAt?.toISOString() ?? null,
    })),
  );
  const claims = items.flatMap(({ notification, idempotency: c }) =>
    c
      ? [
          {
            owner: c.owner,
            key: c.key,
            request_hash: c.requestHash,
            notification_id: notification.id,
            response: c.response,
          },
        ]
      : [],
  );

  const { rows } = await pool.query<{ id: string }>({
    // Prepared once per connection: single sends run it hundreds of times a
    // second, and no plan of it can go stale (it reads no table that grows;
    // the key checks are Postgres's own). See database.ts on the others.
    name: 'herald_insert_notifications',
    text: `
WITH claimed AS (
  INSERT INTO idempotency_keys (owner, key, request_hash, notification_id, response)
  SELECT c.owner, c.key, c.request_hash, c.notification_id, c.response
  FROM jsonb_to_recordset($4::jsonb) AS c(owner text, key text, request_hash text, notification_id uuid, response jsonb)
  ON CONFLICT (owner, key) DO UPDATE
    SET request_hash = EXCLUDED.request_hash, notification_id = EXCLUDED.notification_id,
        response = EXCLUDED.response, created_at = now()
    WHERE idempotency_keys.created_at < now() - interval '${IDEMPOTENCY_TTL_HOURS} hours'
  RETURNING notification_id
), n AS (
  INSERT INTO notifications (id, owner, lane, strategy, channels, recipient_id, campaign_id, "to",
    template_key, content, data, metadata, category, send_at, dispatched_at)
  SELECT x.id, x.owner, x.lane, x.strategy, x.channels, x.recipient_id, x.campaign_id, x."to",
    x.template_key, x.content, x.data, x.metadata, x.category, x.send_at,
    CASE WHEN x.dispatched THEN now() END
  FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, owner text, lane lane, strategy strategy,
    channels channel[], recipient_id text, campaign_id uuid, "to" jsonb, template_key text,
    content jsonb, data jsonb, metadata jsonb, category text, send_at timestamptz,
    dispatched boolean, idempotent boolean)
  WHERE NOT x.idempotent OR x.id IN (SELECT notification_id FROM claimed)
  RETURNING id
), d AS (
  INSERT INTO deliveries (id, notification_id, campaign_id, recipient_id, channel, lane, position,
    status, reason, queued_at)
  SELECT x.id, x.notification_id, x.campaign_id, x.recipient_id, x.channel, x.lane, x.position,
    x.status, x.reason, CASE WHEN x.status = 'queued' THEN now() END
  FROM jsonb_to_recordset($2::jsonb) AS x(id uuid, notification_id uuid, campaign_id uuid,
    recipient_id text, channel channel, lane lane, position smallint, status delivery_status,
    reason text)
  WHERE x.notification_id IN (SELECT id FROM n)
  RETURNING id
), o AS (
  INSERT INTO outbox (delivery_id, queue, job_id, payload, available_at)
  SELECT x.delivery_id, x.queue, x.job_id, x.payload, COALESCE(x.available_at, now())
  FROM jsonb_to_recordset($3::jsonb) AS x(delivery_id uuid, queue text, job_id text, payload jsonb,
    available_at timestamptz)
  WHERE x.delivery_id IN (SELECT id FROM d)
)
SELECT id FROM n`,
    values: [
      JSON.stringify(notifications),
      JSON.stringify(deliveries),
      JSON.stringify(outbox),
      JSON.stringify(claims),
    ],
  });
  return new Set(rows.map((r) => r.id));
}

export interface IdempotencyRecord {
  requestHash: string;
  notificationId: string;
  response: unknown;
}

export async function findIdempotencyRecord(
  pool: pg.Pool,
  owner: string,
  key: string,
): Promise<IdempotencyRecord | undefined> {
  const { rows } = await pool.query<{
    request_hash: string;
    notification_id: string;
    response: unknown;
  }>({
    text: `SELECT request_hash, notification_id, response FROM idempotency_keys
           WHERE owner = $1 AND key = $2
             AND created_at >= now() - interval '${IDEMPOTENCY_TTL_HOURS} hours'`,
    values: [owner, key],
  });
  const row = rows[0];
  return row
    ? { requestHash: row.request_hash, notificationId: row.notification_id, response: row.response }
    : undefined;
}

/** The live records of these keys of one owner, by key (one query, for a batch). */
export async function findIdempotencyRecords(
  pool: pg.Pool,
  owner: string,
  keys: readonly string[],
): Promise<Map<string, IdempotencyRecord>> {
  if (keys.length === 0) return new Map();
  const { rows } = await pool.query<{
    key: string;
    request_hash: string;
    notification_id: string;
    response: unknown;
  }>({
    text: `SELECT key, request_hash, notification_id, response FROM idempotency_keys
           WHERE owner = $1 AND key = ANY($2::text[])
             AND created_at >= now() - interval '${IDEMPOTENCY_TTL_HOURS} hours'`,
    values: [owner, keys],
  });
  return new Map(
    rows.map((r) => [
      r.key,
      { requestHash: r.request_hash, notificationId: r.notification_id, response: r.response },
    ]),
  );
}

/**
 * Cancels a notification's deliveries that have not been sent (scheduled,
 * queued, pending) and drops their outbox entries. Resolves with the
 * cancelled deliveries (empty when nothing was left to cancel).
 */
export async function cancelNotificationDeliveries(
  pool: pg.Pool,
  notificationId: string,
  reason: string,
): Promise<{ id: string; channel: Channel; lane: Lane }[]> {
  const { rows } = await pool.query<{ id: string; channel: Channel; lane: Lane }>(
    `WITH d AS (
       UPDATE deliveries SET status = 'cancelled', reason = $2, updated_at = now()
       WHERE notification_id = $1 AND status IN ('scheduled', 'queued', 'pending')
       RETURNING id, channel, lane
     ), o AS (
       DELETE FROM outbox WHERE delivery_id IN (SELECT id FROM d)
     ), n AS (
       UPDATE notifications SET cancelled_at = now() WHERE id = $1 AND EXISTS (SELECT 1 FROM d)
     )
     SELECT id, channel::text AS channel, lane::text AS lane FROM d`,
    [notificationId, reason],
  );
  return rows;
}

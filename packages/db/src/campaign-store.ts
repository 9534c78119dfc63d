import type { Channel, RecipientProfile } from '@herald/core';
import type pg from 'pg';
import type { Campaign, PrismaClient } from './generated/prisma/client';
import type { CampaignStatus } from './generated/prisma/enums';
import type { CampaignOutboxJob } from './campaign-outbox';
import {
  IDEMPOTENCY_TTL_HOURS,
  type IdempotencyClaim,
  type NewDelivery,
} from './notification-store';

export type CampaignAudience = { recipientIds: string[] } | { tag: string } | { all: true };

export interface NewCampaign {
  id: string;
  /** The one notification every delivery of the campaign belongs to. */
  notificationId: string;
  owner: string;
  name: string;
  templateKey?: string;
  content?: unknown;
  channels: Channel[];
  audience: CampaignAudience;
  data?: unknown;
  category: string;
  sendAt?: Date;
  throttlePerSecond?: number;
}

/** A new campaign's status: it waits for its sendAt, or runs. */
export function initialCampaignStatus(sendAt: Date | undefined, now: Date): CampaignStatus {
  return sendAt && sendAt > now ? 'scheduled' : 'running';
}

/**
 * Creates the campaign and its notification in one statement; the fan-out
 * happens later. With a claim, only if its idempotency key is free (or
 * expired): resolves with undefined when an earlier request holds it.
 */
export async function createCampaign(
  pool: pg.Pool,
  c: NewCampaign,
  now: Date,
  claim?: Omit<IdempotencyClaim, 'owner'>,
): Promise<CampaignStatus | undefined> {
  const status = initialCampaignStatus(c.sendAt, now);
  const { rowCount } = await pool.query(
    `WITH claimed AS (
       INSERT INTO idempotency_keys (owner, key, request_hash, notification_id, response)
       SELECT $2, $14, $15, $13, $16::jsonb WHERE $14::text IS NOT NULL
       ON CONFLICT (owner, key) DO UPDATE
         SET request_hash = EXCLUDED.request_hash, notification_id = EXCLUDED.notification_id,
             response = EXCLUDED.response, created_at = now()
         WHERE idempotency_keys.created_at < now() - interval '${IDEMPOTENCY_TTL_HOURS} hours'
       RETURNING 1
     ), c AS (
       INSERT INTO campaigns (id, owner, name, template_key, content, channels, audience, data, category,
         status, send_at, throttle_per_second, started_at)
       SELECT $1, $2, $3, $4, $5, $6::channel[], $7, $8, $9, $10::campaign_status, $11, $12,
         CASE WHEN $10::campaign_status = 'running' THEN now() END
       WHERE $14::text IS NULL OR EXISTS (SELECT 1 FROM claimed)
       RETURNING id
     )
     INSERT INTO notifications (id, owner, lane, strategy, channels, campaign_id, template_key, content,
       data, category, send_at, dispatched_at)
     SELECT $13, $2, 'campaign', 'all', $6::channel[], c.id, $4, $5, $8, $9, $11, NULL FROM c`,
    [
      c.id,
      c.owner,
      c.name,
      c.templateKey ?? null,
      c.content === undefined ? null : JSON.stringify(c.content),
      c.channels,
      JSON.stringify(c.audience),
      c.data === undefined ? null : JSON.stringify(c.data),
      c.category,
      status,
      c.sendAt ?? null,
      c.throttlePerSecond ?? null,
      c.notificationId,
      claim?.key ?? null,
      claim?.requestHash ?? null,
      claim ? JSON.stringify(claim.response) : null,
    ],
  );
  return rowCount === 1 ? status : undefined;
}

export interface CampaignView {
  id: string;
  name: string;
  status: CampaignStatus;
  channels: string[];
  category: string;
  templateKey?: string;
  sendAt?: string;
  throttle?: { perSecond: number };
  counts: {
    total: number;
    queued: number;
    sent: number;
    failed: number;
    skipped: number;
    cancelled: number;
  };
  expanded: boolean;
  createdAt: string;
  startedAt?: string;
  completedAt?: string;
}

export async function getCampaignView(
  prisma: PrismaClient,
  id: string,
): Promise<CampaignView | undefined> {
  const c = await prisma.campaign.findUnique({ where: { id } });
  return c ? campaignView(c) : undefined;
}

export interface CampaignListOptions {
  status?: CampaignStatus;
  /** Only campaigns created before this one (ids are UUIDv7, ordered by creation). */
  before?: string;
  limit: number;
}

/**
 * Campaigns newest first, a page at a time (keyset on the id: a page costs the
 * same however deep it is). `next` is the `before` of the following page,
 * absent on the last one.
 */
export async function listCampaignViews(
  prisma: PrismaClient,
  options: CampaignListOptions,
): Promise<{ items: CampaignView[]; next?: string }> {
  const rows = await prisma.campaign.findMany({
    where: {
      ...(options.status ? { status: options.status } : {}),
      ...(options.before ? { id: { lt: options.before } } : {}),
    },
    orderBy: { id: 'desc' },
    take: options.limit + 1,
  });
  const page = rows.slice(0, options.limit);
  return {
    items: page.map(campaignView),
    next: rows.length > options.limit ? page[page.length - 1]!.id : undefined,
  };
}

function campaignView(c: Campaign): CampaignView {
  const settled = c.sent + c.failed + c.skipped + c.cancelled;
  return {
    id: c.id,
    name: c.name,
    status: c.status,
    channels: c.channels,
    category: c.category,
    templateKey: c.templateKey ?? undefined,
    sendAt: c.sendAt?.toISOString(),
    throttle: c.throttlePerSecond ? { perSecond: c.throttlePerSecond } : undefined,
    counts: {
      total: c.total,
      queued: Math.max(0, c.total - settled),
      sent: c.sent,
      failed: c.failed,
      skipped: c.skipped,
      cancelled: c.cancelled,
    },
    expanded: c.expandedAt !== null,
    createdAt: c.createdAt.toISOString(),
    startedAt: c.startedAt?.toISOString(),
    completedAt: c.completedAt?.toISOString(),
  };
}

/** Moves a campaign between statuses; undefined when it was not in one of `from`. */
export async function transitionCampaign(
  pool: pg.Pool,
  id: string,
  from: CampaignStatus[],
  to: CampaignStatus,
): Promise<CampaignStatus | undefined> {
  const { rows } = await pool.query<{ status: CampaignStatus }>(
    `UPDATE campaigns SET status = $3::campaign_status,
       started_at = CASE WHEN $3::campaign_status = 'running' THEN COALESCE(started_at, now()) ELSE started_at END,
       completed_at = CASE WHEN $3::campaign_status IN ('completed', 'cancelled') THEN now() ELSE completed_at END
     WHERE id = $1 AND status = ANY($2::campaign_status[]) RETURNING status`,
    [id, from, to],
  );
  return rows[0]?.status;
}

/**
 * Cancelling: every delivery not yet sent becomes cancelled (counted), and
 * outbox entries and fan-out pages not yet enqueued are dropped. Jobs already in Redis are
 * stopped by the campaign's cancel marker, checked once per batch.
 */
export async function cancelCampaignDeliveries(pool: pg.Pool, id: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `WITH gone AS (
       DELETE FROM outbox o USING deliveries d WHERE o.delivery_id = d.id AND d.campaign_id = $1
     ), pages AS (
       DELETE FROM campaign_outbox WHERE campaign_id = $1
     ), c AS (
       UPDATE deliveries SET status = 'cancelled', reason = 'campaign cancelled', updated_at = now()
       WHERE campaign_id = $1 AND status IN ('queued', 'scheduled', 'pending', 'sending')
       RETURNING 1
     ), n AS (SELECT count(*)::int AS n FROM c)
     UPDATE campaigns SET cancelled = cancelled + n.n FROM n WHERE campaigns.id = $1
     RETURNING n.n`,
    [id],
  );
  return rows[0]?.n ?? 0;
}

/** Campaigns whose every delivery is settled are completed. */
export async function completeFinishedCampaigns(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `UPDATE campaigns SET status = 'completed', completed_at = now()
     WHERE status = 'running' AND expanded_at IS NOT NULL AND sent + failed + skipped + cancelled >= total
     RETURNING id`,
  );
  return rows.map((r) => r.id);
}

/** Scheduled campaigns whose time has come start running. */
export async function startDueCampaigns(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `UPDATE campaigns SET status = 'running', started_at = now()
     WHERE status = 'scheduled' AND (send_at IS NULL OR send_at <= now()) RETURNING id`,
  );
  return rows.map((r) => r.id);
}

export interface FanoutCampaign {
  id: string;
  notificationId: string;
  templateKey?: string;
  content?: Record<string, unknown>;
  channels: Channel[];
  audience: CampaignAudience;
  data?: Record<string, unknown>;
  category: string;
  cursor?: string;
  throttlePerSecond?: number;
  pacedUntil?: Date;
}

/** Advisory lock namespace of campaign fan-out (the second key is the campaign's hash). */
const FANOUT_LOCK_CLASS = 0x6865; // "he"

/**
 * Thrown by `insertCampaignBatch` when the campaign was paused or cancelled
 * while its batch was being planned: the transaction rolls back, nothing of
 * the batch exists.
 */
export class CampaignNotRunningError extends Error {
  constructor(readonly campaignId: string) {
    super(`campaign ${campaignId} is no longer running`);
  }
}

/**
 * Runs `expand` for one running campaign that still has recipients to expand,
 * inside a transaction holding that campaign's fan-out lock: replicas expand
 * different campaigns, never the same batch twice. The lock is advisory, not
 * the campaign's row: workers update the row's counters all the time, and
 * neither side should wait for the other. Resolves with undefined when there
 * is nothing to expand.
 */
export async function withCampaignToExpand<T>(
  pool: pg.Pool,
  skip: readonly string[],
  expand: (client: pg.PoolClient, campaign: FanoutCampaign) => Promise<T>,
): Promise<T | undefined> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Candidates in order, locked one at a time until one is free: the lock
    // function must not run on every running campaign, or this replica would
    // hold them all.
    const { rows: claimed } = await client.query<{ id: string }>(
      `WITH candidates AS MATERIALIZED (
         SELECT c.id, c.created_at FROM campaigns c
         WHERE c.status = 'running' AND c.expanded_at IS NULL AND NOT (c.id = ANY($1::uuid[]))
         ORDER BY c.created_at, c.id
       )
       SELECT id FROM candidates
       WHERE pg_try_advisory_xact_lock($2, hashtext(id::text))
       LIMIT 1`,
      [skip, FANOUT_LOCK_CLASS],
    );
    // Read after the lock is held, so the cursor another replica just moved is seen.
    const { rows } = await client.query<{
      id: string;
      template_key: string | null;
      content: Record<string, unknown> | null;
      channels: Channel[];
      audience: CampaignAudience;
      data: Record<string, unknown> | null;
      category: string;
      cursor: string | null;
      throttle_per_second: number | null;
      paced_until: Date | null;
      notification_id: string;
    }>(
      `SELECT c.id, c.template_key, c.content, c.channels::text[] AS channels, c.audience, c.data, c.category,
              c.cursor, c.throttle_per_second, c.paced_until,
              (SELECT n.id FROM notifications n WHERE n.campaign_id = c.id LIMIT 1) AS notification_id
       FROM campaigns c
       WHERE c.id = $1 AND c.status = 'running' AND c.expanded_at IS NULL`,
      [claimed[0]?.id ?? null],
    );
    const row = rows[0];
    if (!row) {
      await client.query('COMMIT');
      return undefined;
    }
    const result = await expand(client, {
      id: row.id,
      notificationId: row.notification_id,
      templateKey: row.template_key ?? undefined,
      content: row.content ?? undefined,
      channels: row.channels,
      audience: row.audience,
      data: row.data ?? undefined,
      category: row.category,
      cursor: row.cursor ?? undefined,
      throttlePerSecond: row.throttle_per_second ?? undefined,
      pacedUntil: row.paced_until ?? undefined,
    });
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** The next page of a campaign's audience after `cursor`, in id order, with what sending needs. */
export async function selectAudiencePage(
  client: pg.PoolClient,
  audience: CampaignAudience,
  cursor: string | undefined,
  limit: number,
): Promise<RecipientProfile[]> {
  const params: unknown[] = [cursor ?? '', limit];
  let predicate = 'TRUE';
  if ('recipientIds' in audience) {
    params.push(audience.recipientIds);
    predicate = 'r.id = ANY($3::text[])';
  } else if ('tag' in audience) {
    params.push([audience.tag]);
    predicate = 'r.tags @> $3::text[]';
  }
  const { rows } = await client.query<{
    id: string;
    email: string | null;
    telegram_chat_id: string | null;
    webhook_url: string | null;
    locale: string | null;
    preferences: unknown;
    unreachable: unknown;
    push_subscriptions: RecipientProfile['pushSubscriptions'];
  }>(
    `SELECT r.id, r.email, r.telegram_chat_id, r.webhook_url, r.locale, r.preferences, r.unreachable,
       COALESCE((SELECT json_agg(json_build_object('endpoint', s.endpoint,
                  'keys', json_build_object('p256dh', s.p256dh, 'auth', s.auth)) ORDER BY s.created_at DESC)
                 FROM push_subscriptions s WHERE s.recipient_id = r.id), '[]'::json) AS push_subscriptions
     FROM recipients r
     WHERE r.id > $1 AND ${predicate}
     ORDER BY r.id
     LIMIT $2`,
    params,
  );
  return rows.map((r) => ({
    id: r.id,
    email: r.email ?? undefined,
    telegramChatId: r.telegram_chat_id ?? undefined,
    webhookUrl: r.webhook_url ?? undefined,
    locale: r.locale ?? undefined,
    preferences: r.preferences,
    unreachable: r.unreachable,
    pushSubscriptions: r.push_subscriptions,
  }));
}

/**
 * Writes one fan-out batch in the claim's transaction: the deliveries (and
 * skipped ones), the page's jobs as one campaign outbox row, and the
 * campaign's cursor and counts. Resolves with the outbox row's id (none when
 * the page has nothing to send). Throws CampaignNotRunningError (roll back) if
 * the campaign was stopped meanwhile.
 *
 * The outbox row is claimed for `claimMs`: the fan-out enqueues the jobs
 * itself right after the commit, and the relay takes them only if that did
 * not happen in time (Redis failed, the process died), each job still not
 * before its paced time.
 */
export async function insertCampaignBatch(
  client: pg.PoolClient,
  batch: {
    campaignId: string;
    notificationId: string;
    deliveries: (NewDelivery & { recipientId: string })[];
    jobs: CampaignOutboxJob[];
    cursor: string | undefined;
    pacedUntil: Date | undefined;
    expanded: boolean;
    claimMs: number;
  },
): Promise<string | undefined> {
  const skipped = batch.deliveries.filter((d) => d.status === 'skipped').length;
  const { rows } = await client.query<{ outbox_id: string | null }>({
    text: `
WITH d AS (
  INSERT INTO deliveries (id, notification_id, campaign_id, recipient_id, channel, lane, position, status, reason, queued_at)
  SELECT x.id, $2, $1, x.recipient_id, x.channel, 'campaign', x.position, x.status, x.reason,
    CASE WHEN x.status = 'queued' THEN now() END
  FROM jsonb_to_recordset($3::jsonb) AS x(id uuid, recipient_id text, channel channel, position smallint,
    status delivery_status, reason text)
), o AS (
  INSERT INTO campaign_outbox (campaign_id, jobs, claimed_until)
  SELECT $1, $4::jsonb, now() + ($10::int * interval '1 millisecond')
  WHERE jsonb_array_length($4::jsonb) > 0
  RETURNING id
)
UPDATE campaigns SET cursor = $5, paced_until = $6, total = total + $7, skipped = skipped + $8,
  expanded_at = CASE WHEN $9 THEN now() END
-- Re-checked under the row lock: a pause or cancel committed meanwhile wins.
WHERE id = $1 AND status = 'running'
RETURNING (SELECT id FROM o) AS outbox_id`,
    values: [
      batch.campaignId,
      batch.notificationId,
      JSON.stringify(
        batch.deliveries.map((d) => ({
          id: d.id,
          recipient_id: d.recipientId,
          channel: d.channel,
          position: d.position,
          status: d.status,
          reason: d.reason ?? null,
        })),
      ),
      JSON.stringify(batch.jobs),
      batch.cursor ?? null,
      batch.pacedUntil ?? null,
      batch.deliveries.length,
      skipped,
      batch.expanded,
      batch.claimMs,
    ],
  });
  if (rows.length === 0) throw new CampaignNotRunningError(batch.campaignId);
  return rows[0]!.outbox_id ?? undefined;
}

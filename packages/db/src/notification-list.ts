import type pg from 'pg';
import type { DeliveryView, NotificationView } from './notification-view';
import { firstIdAt } from './notification-ids';
import type { DeliveryStatus } from './statuses';

/**
 * statuses.ts's summarizeStatus in SQL, over one notification's deliveries
 * (aliased `d`), so that a list can filter on it before it pages. A property
 * test holds the two to the same answers.
 */
export const SUMMARY_STATUS_SQL = `CASE
    WHEN count(d.id) = 0 THEN 'skipped'
    WHEN bool_or(d.status = 'sending')
      OR (bool_or(d.status IN ('queued', 'pending')) AND bool_or(d.status = 'sent')) THEN 'sending'
    WHEN bool_or(d.status IN ('queued', 'pending')) THEN 'queued'
    WHEN bool_or(d.status = 'scheduled') THEN 'scheduled'
    WHEN bool_or(d.status = 'sent') THEN 'sent'
    WHEN bool_or(d.status = 'failed') THEN 'failed'
    WHEN bool_or(d.status = 'cancelled') THEN 'cancelled'
    ELSE 'skipped'
  END`;

/** A notification in a list: the view without attempts (GET the notification for those). */
export interface NotificationSummary extends Omit<NotificationView, 'deliveries' | 'campaignId'> {
  category?: string;
  deliveries: Omit<DeliveryView, 'attempts'>[];
}

export interface NotificationListQuery {
  /** Sent with a token of this `sub`. */
  owner?: string;
  /** The summary status (as GET /v1/notifications/:id gives it). */
  status?: DeliveryStatus;
  /** One of the notification's channels. */
  channel?: string;
  lane?: string;
  category?: string;
  recipientId?: string;
  templateKey?: string;
  /** Top-level metadata values, compared as text (`{"orderId": 42}` matches "42"). */
  metadata?: Record<string, string>;
  /** Accepted at or after this moment. */
  since?: Date;
  /** Accepted before this moment. */
  until?: Date;
  /** Only notifications older than this one (a page's `next`). */
  before?: string;
  limit: number;
}

/**
 * Notifications a filtered page may look through: a filter few rows match
 * must not turn one request into a scan of the whole table. A page that
 * reaches the window's end stops there (even empty) with a `next` to go on from.
 */
export const LIST_SCAN_WINDOW = 5000;

interface Row {
  id: string;
  owner: string;
  lane: string;
  strategy: string;
  channels: string[];
  recipient_id: string | null;
  template_key: string | null;
  category: string | null;
  metadata: unknown;
  send_at: Date | null;
  dispatched_at: Date | null;
  cancelled_at: Date | null;
  created_at: Date;
  status: DeliveryStatus;
  deliveries: {
    id: string;
    channel: string;
    lane: string;
    status: DeliveryStatus;
    reason: string | null;
    attemptsCount: number;
    providerMessageId: string | null;
    queuedAt: string | null;
    sentAt: string | null;
    updatedAt: string;
  }[];
}

const hasFilter = (q: NotificationListQuery) =>
  [q.owner, q.status, q.channel, q.lane, q.category, q.recipientId, q.templateKey, q.metadata].some(
    (v) => v !== undefined,
  );

/**
 * Transactional notifications, newest first, a page at a time (keyset on the
 * UUIDv7 primary key, which also makes since/until a key range). Campaign
 * notifications are left out: each carries a whole campaign and is seen
 * through GET /v1/campaigns. `next` is the `before` of the following page.
 */
export async function listNotifications(
  pool: pg.Pool,
  query: NotificationListQuery,
  scanWindow = LIST_SCAN_WINDOW,
): Promise<{ items: NotificationSummary[]; next?: string }> {
  const lower = query.since ? firstIdAt(query.since) : null;
  const upper = query.until ? firstIdAt(query.until) : null;
  const before = query.before ?? null;
  // The page reads a window of the key range, found first on the primary key
  // alone: it bounds the rows read from both ends whatever plan the filters
  // get (a filter without statistics can make Postgres expect almost no
  // match and choose to read the whole table). Unfiltered, the window is the page.
  const size = hasFilter(query) ? scanWindow : query.limit + 1;
  // One id past the window says whether anything lies below it.
  const { rows: edges } = await pool.query<{ low: string; high: string; n: number }>({
    // (Postgres before 18 has no min/max for uuid: the ends of the sorted ids.)
    text: `SELECT ids[least(array_length(ids, 1), $4)] AS low, ids[1] AS high,
                  coalesce(array_length(ids, 1), 0) AS n
           FROM (SELECT array_agg(id ORDER BY id DESC) AS ids FROM (
             SELECT id FROM notifications
             WHERE ($1::uuid IS NULL OR id < $1) AND ($2::uuid IS NULL OR id >= $2)
               AND ($3::uuid IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4 + 1) w) edges`,
    values: [before, lower, upper, size],
  });
  const window = edges[0]!;
  if (window.n === 0) return { items: [] };
  const floor = window.n > size ? window.low : undefined;
  const { rows } = await pool.query<Row>({
    text: `SELECT n.id, n.owner, n.lane, n.strategy, n.channels::text[] AS channels, n.recipient_id,
                  n.template_key, n.category,
                  n.metadata, n.send_at, n.dispatched_at, n.cancelled_at, n.created_at,
                  s.status, s.deliveries
           FROM notifications n
           CROSS JOIN LATERAL (
             SELECT ${SUMMARY_STATUS_SQL} AS status,
                    coalesce(json_agg(json_build_object(
                      'id', d.id, 'channel', d.channel, 'lane', d.lane, 'status', d.status,
                      'reason', d.reason, 'attemptsCount', d.attempts_count,
                      'providerMessageId', d.provider_message_id, 'queuedAt', d.queued_at,
                      'sentAt', d.sent_at, 'updatedAt', d.updated_at) ORDER BY d.position)
                      FILTER (WHERE d.id IS NOT NULL), '[]') AS deliveries
             FROM deliveries d WHERE d.notification_id = n.id
           ) s
           WHERE n.campaign_id IS NULL
             AND n.id BETWEEN $1 AND $2
             AND ($3::text IS NULL OR s.status = $3)
             AND ($4::channel IS NULL OR $4 = ANY (n.channels))
             AND ($5::lane IS NULL OR n.lane = $5)
             AND ($6::text IS NULL OR n.category = $6)
             AND ($7::text IS NULL OR n.recipient_id = $7)
             AND ($8::text IS NULL OR n.template_key = $8)
             AND ($9::jsonb IS NULL OR NOT EXISTS (
                   SELECT 1 FROM jsonb_each_text($9) want
                   WHERE (n.metadata ->> want.key) IS DISTINCT FROM want.value))
             AND ($11::text IS NULL OR n.owner = $11)
           ORDER BY n.id DESC
           LIMIT $10`,
    values: [
      window.low,
      window.high,
      query.status ?? null,
      query.channel ?? null,
      query.lane ?? null,
      query.category ?? null,
      query.recipientId ?? null,
      query.templateKey ?? null,
      query.metadata ? JSON.stringify(query.metadata) : null,
      query.limit + 1,
      query.owner ?? null,
    ],
  });
  const page = rows.slice(0, query.limit);
  // More may follow: matches past this page, or notifications past the window
  // (a campaign's notification in the window can leave an unfiltered page short).
  const next = rows.length > query.limit ? page[page.length - 1]!.id : floor;
  return { items: page.map(toSummary), ...(next ? { next } : {}) };
}

const iso = (value: Date | string | null) =>
  value === null ? undefined : new Date(value).toISOString();

function toSummary(r: Row): NotificationSummary {
  return {
    id: r.id,
    owner: r.owner,
    status: r.status,
    lane: r.lane,
    strategy: r.strategy,
    channels: r.channels,
    ...(r.recipient_id ? { recipientId: r.recipient_id } : {}),
    ...(r.template_key ? { templateKey: r.template_key } : {}),
    ...(r.category ? { category: r.category } : {}),
    ...(r.metadata !== null ? { metadata: r.metadata } : {}),
    createdAt: r.created_at.toISOString(),
    ...(r.send_at ? { sendAt: iso(r.send_at) } : {}),
    ...(r.dispatched_at ? { dispatchedAt: iso(r.dispatched_at) } : {}),
    ...(r.cancelled_at ? { cancelledAt: iso(r.cancelled_at) } : {}),
    deliveries: r.deliveries.map((d) => ({
      id: d.id,
      channel: d.channel,
      lane: d.lane,
      status: d.status,
      ...(d.reason ? { reason: d.reason } : {}),
      attemptsCount: d.attemptsCount,
      ...(d.providerMessageId ? { providerMessageId: d.providerMessageId } : {}),
      ...(d.queuedAt ? { queuedAt: iso(d.queuedAt) } : {}),
      ...(d.sentAt ? { sentAt: iso(d.sentAt) } : {}),
      updatedAt: iso(d.updatedAt)!,
    })),
  };
}

import type pg from 'pg';
import type { DeliveryView } from './notification-view';
import type { DeliveryStatus } from './statuses';

export interface AttemptError {
  attempt: number;
  at: string;
  outcome: string;
  code?: string;
  message?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Every failed attempt of a delivery, oldest first (what a dead letter
 * carries). An id that is not a delivery id (a job whose payload did not
 * parse is buried under its job id) has none, rather than failing the query.
 */
export async function listAttemptErrors(
  pool: pg.Pool,
  deliveryId: string,
): Promise<AttemptError[]> {
  if (!UUID.test(deliveryId)) return [];
  const { rows } = await pool.query<{
    attempt: number;
    at: Date;
    outcome: string;
    error_code: string | null;
    error: string | null;
  }>({
    text: `SELECT attempt, at, outcome, error_code, error FROM attempts
           WHERE delivery_id = $1 AND outcome <> 'sent' ORDER BY at, id`,
    values: [deliveryId],
  });
  return rows.map((r) => ({
    attempt: r.attempt,
    at: r.at.toISOString(),
    outcome: r.outcome,
    ...(r.error_code ? { code: r.error_code } : {}),
    ...(r.error ? { message: r.error } : {}),
  }));
}

/**
 * Redrive: failed deliveries go back to queued with fresh attempts; their
 * attempt history stays as it is.
 */
export async function requeueDeliveries(
  pool: pg.Pool,
  deliveryIds: string[],
  reason: string,
): Promise<void> {
  await pool.query(
    `UPDATE deliveries SET status = 'queued', reason = $2, queued_at = now(), updated_at = now()
     WHERE id = ANY($1::uuid[]) AND status IN ('failed', 'queued', 'sending')`,
    [deliveryIds, reason],
  );
}

/**
 * Whether the recipient this delivery was for has been erased since: the job
 * names a stored recipient, and the delivery's row no longer does (erasure
 * sets it to NULL). Such a delivery's job still carries the addresses.
 */
export async function wasRecipientErased(
  pool: pg.Pool,
  deliveryId: string,
  recipientId: string,
): Promise<boolean> {
  if (!UUID.test(deliveryId) || recipientId === '') return false;
  const { rows } = await pool.query<{ recipient_id: string | null }>(
    'SELECT recipient_id FROM deliveries WHERE id = $1',
    [deliveryId],
  );
  return rows.length === 1 && rows[0]!.recipient_id === null;
}

/** Of these delivery ids, those with a record (retention purges old ones). */
export async function findExistingDeliveries(
  pool: pg.Pool,
  deliveryIds: string[],
): Promise<Set<string>> {
  if (deliveryIds.length === 0) return new Set();
  const { rows } = await pool.query<{ id: string }>(
    'SELECT id FROM deliveries WHERE id = ANY($1::uuid[])',
    [deliveryIds],
  );
  return new Set(rows.map((r) => r.id));
}

/** Of these deliveries, those already settled (sent, failed, cancelled, skipped). */
export async function findSettledDeliveries(
  pool: pg.Pool,
  deliveryIds: string[],
): Promise<Set<string>> {
  if (deliveryIds.length === 0) return new Set();
  const { rows } = await pool.query<{ id: string }>(
    `SELECT id FROM deliveries WHERE id = ANY($1::uuid[]) AND status IN ('sent', 'failed', 'cancelled', 'skipped')`,
    [deliveryIds],
  );
  return new Set(rows.map((r) => r.id));
}

/** A delivery in a recipient's history: what was sent, how and when, not its content. */
export interface RecipientDelivery extends Omit<DeliveryView, 'attempts'> {
  notificationId: string;
  campaignId?: string;
  createdAt: string;
}

/** A page of a recipient's or a campaign's deliveries, newest first. */
export interface DeliveryPageQuery {
  status?: DeliveryStatus;
  channel?: string;
  /** Only deliveries created before this one (ids are UUIDv7, ordered by creation). */
  before?: string;
  limit: number;
}

interface HistoryRow {
  id: string;
  notification_id: string;
  campaign_id: string | null;
  recipient_id: string | null;
  channel: string;
  lane: string;
  status: DeliveryStatus;
  reason: string | null;
  attempts_count: number;
  provider_message_id: string | null;
  created_at: Date;
  queued_at: Date | null;
  sent_at: Date | null;
  updated_at: Date;
}

const HISTORY_COLUMNS = `d.id, d.notification_id, d.campaign_id, d.recipient_id, d.channel, d.lane,
  d.status, d.reason, d.attempts_count, d.provider_message_id, d.created_at, d.queued_at,
  d.sent_at, d.updated_at`;

function historyItem(r: HistoryRow): RecipientDelivery {
  return {
    id: r.id,
    notificationId: r.notification_id,
    ...(r.campaign_id ? { campaignId: r.campaign_id } : {}),
    channel: r.channel,
    lane: r.lane,
    status: r.status,
    ...(r.reason ? { reason: r.reason } : {}),
    attemptsCount: r.attempts_count,
    ...(r.provider_message_id ? { providerMessageId: r.provider_message_id } : {}),
    createdAt: r.created_at.toISOString(),
    ...(r.queued_at ? { queuedAt: r.queued_at.toISOString() } : {}),
    ...(r.sent_at ? { sentAt: r.sent_at.toISOString() } : {}),
    updatedAt: r.updated_at.toISOString(),
  };
}

/**
 * A stored recipient's deliveries, newest first, a page at a time (keyset on
 * the delivery id, through the recipient_id index): transactional sends and
 * campaigns alike. `next` is the `before` of the following page.
 */
export async function listRecipientDeliveries(
  pool: pg.Pool,
  recipientId: string,
  query: DeliveryPageQuery,
): Promise<{ items: RecipientDelivery[]; next?: string }> {
  const { rows } = await pool.query<HistoryRow>({
    text: `SELECT ${HISTORY_COLUMNS}
           FROM deliveries d
           WHERE d.recipient_id = $1
             AND ($2::uuid IS NULL OR d.id < $2)
             AND ($3::delivery_status IS NULL OR d.status = $3)
             AND ($4::channel IS NULL OR d.channel = $4)
           ORDER BY d.id DESC
           LIMIT $5`,
    values: [
      recipientId,
      query.before ?? null,
      query.status ?? null,
      query.channel ?? null,
      query.limit + 1,
    ],
  });
  const page = rows.slice(0, query.limit);
  return {
    items: page.map(historyItem),
    next: rows.length > query.limit ? page[page.length - 1]!.id : undefined,
  };
}

/** A delivery of a campaign: to whom (absent once the recipient was erased), how it went. */
export interface CampaignDelivery extends Omit<RecipientDelivery, 'campaignId'> {
  recipientId?: string;
}

/**
 * How many of a campaign's deliveries one page reads at most: a filter that
 * matches few of a million (the failed ones, say) must not turn a request
 * into a scan of them all. A page that reaches the window's end stops there,
 * even short or empty, with a `next` to go on from.
 */
export const CAMPAIGN_DELIVERY_SCAN_WINDOW = 5000;

/**
 * A campaign's deliveries, newest first, a page at a time: keyset on the
 * delivery id through the (campaign_id, id) index, the filters applied to a
 * window of at most `scanWindow` of them. `next` is the `before` of the
 * following page; the last page has none.
 */
export async function listCampaignDeliveries(
  pool: pg.Pool,
  campaignId: string,
  query: DeliveryPageQuery,
  scanWindow = CAMPAIGN_DELIVERY_SCAN_WINDOW,
): Promise<{ items: CampaignDelivery[]; next?: string }> {
  const filtered = query.status !== undefined || query.channel !== undefined;
  const keyset = [campaignId, query.before ?? null];
  const { rows } = await pool.query<HistoryRow>({
    text: `WITH scanned AS MATERIALIZED (
             SELECT id FROM deliveries
             WHERE campaign_id = $1 AND ($2::uuid IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3
           )
           SELECT ${HISTORY_COLUMNS}
           FROM scanned w JOIN deliveries d ON d.id = w.id
           WHERE ($4::delivery_status IS NULL OR d.status = $4)
             AND ($5::channel IS NULL OR d.channel = $5)
           ORDER BY d.id DESC
           LIMIT $6`,
    values: [
      ...keyset,
      filtered ? scanWindow : query.limit + 1,
      query.status ?? null,
      query.channel ?? null,
      query.limit + 1,
    ],
  });
  const page: CampaignDelivery[] = rows.slice(0, query.limit).map((row) => ({
    ...historyItem({ ...row, campaign_id: null }),
    ...(row.recipient_id ? { recipientId: row.recipient_id } : {}),
  }));
  if (rows.length > query.limit) return { items: page, next: page[page.length - 1]!.id };
  if (!filtered) return { items: page };
  // The page is short: the window's last id is where the next page starts, if the window was full.
  const { rows: edge } = await pool.query<{ id: string }>({
    text: `SELECT id FROM deliveries
           WHERE campaign_id = $1 AND ($2::uuid IS NULL OR id < $2)
           ORDER BY id DESC OFFSET $3 - 1 LIMIT 2`,
    values: [...keyset, scanWindow],
  });
  return edge.length === 2 ? { items: page, next: edge[0]!.id } : { items: page };
}

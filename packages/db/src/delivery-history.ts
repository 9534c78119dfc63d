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

export interface RecipientDeliveryQuery {
  status?: DeliveryStatus;
  channel?: string;
  /** Only deliveries created before this one (ids are UUIDv7, ordered by creation). */
  before?: string;
  limit: number;
}

/**
 * A stored recipient's deliveries, newest first, a page at a time (keyset on
 * the delivery id, through the recipient_id index): transactional sends and
 * campaigns alike. `next` is the `before` of the following page.
 */
export async function listRecipientDeliveries(
  pool: pg.Pool,
  recipientId: string,
  query: RecipientDeliveryQuery,
): Promise<{ items: RecipientDelivery[]; next?: string }> {
  const { rows } = await pool.query<{
    id: string;
    notification_id: string;
    campaign_id: string | null;
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
  }>({
    text: `SELECT id, notification_id, campaign_id, channel, lane, status, reason, attempts_count,
                  provider_message_id, created_at, queued_at, sent_at, updated_at
           FROM deliveries
           WHERE recipient_id = $1
             AND ($2::uuid IS NULL OR id < $2)
             AND ($3::delivery_status IS NULL OR status = $3)
             AND ($4::channel IS NULL OR channel = $4)
           ORDER BY id DESC
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
    items: page.map((r) => ({
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
    })),
    next: rows.length > query.limit ? page[page.length - 1]!.id : undefined,
  };
}

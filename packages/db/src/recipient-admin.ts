import type pg from 'pg';
import type { Channel } from '@herald/core';
import { scrubRecipientFromCampaignPages } from './campaign-outbox';
import {
  RECIPIENT_COLUMNS,
  recipientFromRow,
  type PushSubscriptionView,
  type RecipientProfile,
  type RecipientRow,
  type RecipientView,
} from './recipient-view';

export type {
  PushSubscriptionView,
  RecipientPreferences,
  RecipientProfile,
  RecipientView,
} from './recipient-view';

/** What an erasure removed or anonymised (counts only: no personal data; audited). */
export interface ErasureSummary {
  notifications: number;
  deliveries: number;
  cancelledDeliveries: number;
  pushSubscriptions: number;
}

/** A delivery, with what names its queues (`<channel>.<lane>`, `<channel>.dlq`). */
export interface DeliveryRef {
  id: string;
  channel: Channel;
  lane: 'transactional' | 'campaign';
}

export interface ErasureResult {
  summary: ErasureSummary;
  /** Deliveries it cancelled: jobs already in Redis still need telling (cancellation markers). */
  cancelledDeliveries: DeliveryRef[];
  /** Deliveries that failed: their dead letters in Redis still carry the addresses. */
  failedDeliveries: DeliveryRef[];
}

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

/** Runs `work` in one transaction on one connection; a failure rolls everything back. */
async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      broken = rollbackError; // the connection is unusable: the pool discards it
    });
    throw err;
  } finally {
    client.release(broken);
  }
}

async function readRecipient(db: Queryable, id: string): Promise<RecipientView | undefined> {
  const { rows } = await db.query<RecipientRow>(
    `SELECT ${RECIPIENT_COLUMNS} FROM recipients WHERE id = $1`,
    [id],
  );
  const r = rows[0];
  if (!r) return undefined;
  const subscriptions = await db.query<{
    id: string;
    endpoint: string;
    created_at: Date;
    last_used_at: Date | null;
  }>(
    `SELECT id, endpoint, created_at, last_used_at FROM push_subscriptions
     WHERE recipient_id = $1 ORDER BY created_at DESC, id`,
    [id],
  );
  const { createdAt, updatedAt, ...profile } = recipientFromRow(r);
  return {
    ...profile,
    pushSubscriptions: subscriptions.rows.map((s) => ({
      id: s.id,
      endpoint: s.endpoint,
      createdAt: s.created_at.toISOString(),
      ...(s.last_used_at ? { lastUsedAt: s.last_used_at.toISOString() } : {}),
    })),
    createdAt,
    updatedAt,
  };
}

export function getRecipientView(pool: pg.Pool, id: string): Promise<RecipientView | undefined> {
  return readRecipient(pool, id);
}

/**
 * Creates the recipient or replaces its whole profile (push subscriptions are
 * kept: they have their own endpoints). A channel whose address changed loses
 * its `unreachable` mark: the new address deserves a try.
 */
export async function putRecipient(
  pool: pg.Pool,
  id: string,
  profile: RecipientProfile,
): Promise<{ created: boolean; recipient: RecipientView }> {
  const values = [
    id,
    profile.email,
    profile.telegramChatId,
    profile.webhookUrl,
    profile.locale,
    profile.timezone,
    profile.tags,
    JSON.stringify(profile.preferences),
  ];
  return inTransaction(pool, async (client) => {
    // Insert-or-update in two steps so the answer knows which one happened; a
    // row erased between the two is simply inserted again.
    for (let tries = 1; ; tries++) {
      const inserted = await client.query(
        `INSERT INTO recipients (id, email, telegram_chat_id, webhook_url, locale, timezone, tags, preferences)
         VALUES ($1, $2, $3, $4, $5, $6, $7::text[], $8::jsonb)
         ON CONFLICT (id) DO NOTHING`,
        values,
      );
      const created = inserted.rowCount === 1;
      if (!created) {
        const updated = await client.query(
          `UPDATE recipients r SET
             email = $2, telegram_chat_id = $3, webhook_url = $4, locale = $5, timezone = $6,
             tags = $7::text[], preferences = $8::jsonb,
             unreachable = r.unreachable - array_remove(ARRAY[
               CASE WHEN r.email IS DISTINCT FROM $2::text THEN 'email' END,
               CASE WHEN r.telegram_chat_id IS DISTINCT FROM $3::text THEN 'telegram' END,
               CASE WHEN r.webhook_url IS DISTINCT FROM $4::text THEN 'webhook' END
             ]::text[], NULL),
             updated_at = now()
           WHERE r.id = $1`,
          values,
        );
        if (updated.rowCount !== 1 && tries < 3) continue;
      }
      const recipient = await readRecipient(client, id);
      if (recipient) return { created, recipient };
      if (tries >= 3) throw new Error(`recipient ${id} kept disappearing while being written`);
    }
  });
}

/**
 * Adds a browser's push subscription to the recipient, or moves it there (an
 * endpoint belongs to one browser, hence one recipient). A fresh subscription
 * clears an `unreachable` mark on push. Undefined when the recipient is unknown.
 */
export async function putPushSubscription(
  pool: pg.Pool,
  recipientId: string,
  subscription: { id: string; endpoint: string; p256dh: string; auth: string },
): Promise<PushSubscriptionView | undefined> {
  // Updating the recipient first locks it: it cannot be erased under this insert.
  const { rows } = await pool.query<{ id: string; endpoint: string; created_at: Date }>(
    `WITH r AS (
       UPDATE recipients SET unreachable = unreachable - 'push', updated_at = now()
       WHERE id = $1 RETURNING id
     )
     INSERT INTO push_subscriptions (id, recipient_id, endpoint, p256dh, auth)
     SELECT $2, r.id, $3, $4, $5 FROM r
     ON CONFLICT (endpoint) DO UPDATE SET
       created_at = CASE WHEN push_subscriptions.recipient_id = EXCLUDED.recipient_id
                         THEN push_subscriptions.created_at ELSE now() END,
       recipient_id = EXCLUDED.recipient_id, p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth
     RETURNING id, endpoint, created_at`,
    [recipientId, subscription.id, subscription.endpoint, subscription.p256dh, subscription.auth],
  );
  const row = rows[0];
  return row
    ? { id: row.id, endpoint: row.endpoint, createdAt: row.created_at.toISOString() }
    : undefined;
}

/** Removes one of the recipient's push subscriptions; false when there was none. */
export async function removePushSubscription(
  pool: pg.Pool,
  recipientId: string,
  endpoint: string,
): Promise<boolean> {
  const result = await pool.query(
    'DELETE FROM push_subscriptions WHERE recipient_id = $1 AND endpoint = $2',
    [recipientId, endpoint],
  );
  return result.rowCount === 1;
}

/** Shorter strings (a chat id like "7") would scrub unrelated text. */
const MIN_SCRUBBED_LENGTH = 5;
const escapeRegex = (text: string) => text.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');

/** A Postgres regex matching any of these addresses as a whole token, or undefined. */
function addressPattern(addresses: readonly (string | null)[]): string | undefined {
  const alternatives = addresses
    .filter((a): a is string => typeof a === 'string' && a.length >= MIN_SCRUBBED_LENGTH)
    .map(escapeRegex);
  return alternatives.length > 0
    ? `(?<![[:alnum:]_])(?:${alternatives.join('|')})(?![[:alnum:]_])`
    : undefined;
}

/**
 * Erases a recipient (right to erasure) in one transaction, keeping anonymised
 * delivery counts:
 * - deliveries not yet started are cancelled and their outbox entries (whose
 *   payloads carry the address) deleted, so nothing more is sent from Postgres;
 * - the recipient's notifications lose `to`, `data`, `metadata` and inline
 *   `content`; provider messages in delivery reasons and attempt errors lose
 *   the recipient's addresses;
 * - the recipient row goes (push subscriptions cascade; notifications and
 *   deliveries keep their rows with recipient_id set to NULL);
 * - an audit event records who erased which id, with counts only.
 * What Redis still holds (jobs of cancelled deliveries, dead letters of failed
 * ones) is handed to `beforeCommit` to remove.
 * Undefined when the recipient is unknown.
 */
export async function eraseRecipient(
  pool: pg.Pool,
  id: string,
  actor: string,
  /**
   * Runs before the commit, with what Redis still holds: the erasure commits
   * only if it succeeds (so a failure there leaves nothing half erased).
   */
  beforeCommit?: (erased: ErasureResult) => Promise<void>,
): Promise<ErasureResult | undefined> {
  return inTransaction(pool, async (client) => {
    // The lock also holds back notifications being accepted for this recipient
    // (their foreign key check waits), so none escapes the scrub below.
    const found = await client.query<{
      email: string | null;
      telegram_chat_id: string | null;
      webhook_url: string | null;
    }>('SELECT email, telegram_chat_id, webhook_url FROM recipients WHERE id = $1 FOR UPDATE', [
      id,
    ]);
    const recipient = found.rows[0];
    if (!recipient) return undefined;
    const endpoints = await client.query<{ endpoint: string }>(
      'SELECT endpoint FROM push_subscriptions WHERE recipient_id = $1',
      [id],
    );

    // Counted on their campaigns too, or a campaign waiting on them would never complete.
    const cancelled = await client.query<DeliveryRef>(
      `WITH c AS (
         UPDATE deliveries SET status = 'cancelled', reason = 'recipient erased', updated_at = now()
         WHERE recipient_id = $1 AND status IN ('pending', 'scheduled', 'queued')
         RETURNING id, campaign_id, channel, lane
       ), counted AS (
         UPDATE campaigns SET cancelled = campaigns.cancelled + n.n
         FROM (SELECT campaign_id, count(*)::int AS n FROM c
               WHERE campaign_id IS NOT NULL GROUP BY campaign_id) n
         WHERE campaigns.id = n.campaign_id
       )
       SELECT id, channel, lane FROM c`,
      [id],
    );
    const failed = await client.query<DeliveryRef>(
      `SELECT id, channel, lane FROM deliveries WHERE recipient_id = $1 AND status = 'failed'`,
      [id],
    );
    await client.query(
      `DELETE FROM outbox o USING deliveries d WHERE o.delivery_id = d.id AND d.recipient_id = $1`,
      [id],
    );
    await scrubRecipientFromCampaignPages(client, id);
    const pattern = addressPattern([
      recipient.email,
      recipient.telegram_chat_id,
      recipient.webhook_url,
      ...endpoints.rows.map((r) => r.endpoint),
    ]);
    if (pattern !== undefined) {
      await client.query(
        `UPDATE deliveries SET reason = regexp_replace(reason, $2, '[erased]', 'gi')
         WHERE recipient_id = $1 AND reason ~* $2`,
        [id, pattern],
      );
      await client.query(
        `UPDATE attempts a SET error = regexp_replace(a.error, $2, '[erased]', 'gi')
         FROM deliveries d
         WHERE a.delivery_id = d.id AND d.recipient_id = $1 AND a.error ~* $2`,
        [id, pattern],
      );
    }
    const notifications = await client.query(
      `UPDATE notifications SET "to" = NULL, data = NULL, metadata = NULL, content = NULL
       WHERE recipient_id = $1`,
      [id],
    );
    const deliveries = await client.query<{ count: string }>(
      'SELECT count(*) FROM deliveries WHERE recipient_id = $1',
      [id],
    );
    await client.query('DELETE FROM recipients WHERE id = $1', [id]);

    const summary: ErasureSummary = {
      notifications: notifications.rowCount ?? 0,
      deliveries: Number(deliveries.rows[0]?.count ?? 0),
      cancelledDeliveries: cancelled.rows.length,
      pushSubscriptions: endpoints.rowCount ?? 0,
    };
    await client.query(
      `INSERT INTO audit_events (actor, action, entity_type, entity_id, details)
       VALUES ($1, 'recipient.erase', 'recipient', $2, $3::jsonb)`,
      [actor, id, JSON.stringify(summary)],
    );
    const erased = { summary, cancelledDeliveries: cancelled.rows, failedDeliveries: failed.rows };
    await beforeCommit?.(erased);
    return erased;
  });
}

import type pg from 'pg';
import type { PrismaClient } from './generated/prisma/client';

export interface RecipientAddresses {
  id: string;
  email?: string;
  telegramChatId?: string;
  webhookUrl?: string;
  locale?: string;
  pushSubscriptions: { endpoint: string; keys: { p256dh: string; auth: string } }[];
  preferences: unknown;
  unreachable: unknown;
}

/** What sending to stored recipients needs: their addresses and preferences, in one query. */
export async function findRecipientsAddresses(
  prisma: PrismaClient,
  ids: readonly string[],
): Promise<Map<string, RecipientAddresses>> {
  if (ids.length === 0) return new Map();
  const rows = await prisma.recipient.findMany({
    where: { id: { in: [...new Set(ids)] } },
    include: { pushSubscriptions: { orderBy: { createdAt: 'desc' } } },
  });
  return new Map(
    rows.map((r) => [
      r.id,
      {
        id: r.id,
        email: r.email ?? undefined,
        telegramChatId: r.telegramChatId ?? undefined,
        webhookUrl: r.webhookUrl ?? undefined,
        locale: r.locale ?? undefined,
        pushSubscriptions: r.pushSubscriptions.map((s) => ({
          endpoint: s.endpoint,
          keys: { p256dh: s.p256dh, auth: s.auth },
        })),
        preferences: r.preferences,
        unreachable: r.unreachable,
      },
    ]),
  );
}

export async function findRecipientAddresses(
  prisma: PrismaClient,
  id: string,
): Promise<RecipientAddresses | undefined> {
  return (await findRecipientsAddresses(prisma, [id])).get(id);
}

/**
 * What providers teach us about addresses, applied on the (rare) failure path:
 * a blocked Telegram chat, a push subscription the push service forgot, a
 * group chat that became a supergroup.
 */
export async function markAddressUnreachable(
  pool: pg.Pool,
  recipientId: string,
  channel: string,
  reason: string,
): Promise<void> {
  await pool.query(
    `UPDATE recipients SET unreachable = unreachable || jsonb_build_object($2::text,
       jsonb_build_object('at', now(), 'reason', $3::text)), updated_at = now()
     WHERE id = $1`,
    [recipientId, channel, reason],
  );
}

export async function deletePushSubscription(pool: pg.Pool, endpoint: string): Promise<number> {
  const result = await pool.query('DELETE FROM push_subscriptions WHERE endpoint = $1', [endpoint]);
  return result.rowCount ?? 0;
}

export async function moveTelegramChatId(
  pool: pg.Pool,
  recipientId: string,
  from: string,
  to: string,
): Promise<void> {
  await pool.query(
    'UPDATE recipients SET telegram_chat_id = $3, updated_at = now() WHERE id = $1 AND telegram_chat_id = $2',
    [recipientId, from, to],
  );
}

/** Turns a preference category off for a recipient (an unsubscribe link); false when there is no such recipient. */
export async function unsubscribeFromCategory(
  pool: pg.Pool,
  recipientId: string,
  category: string,
): Promise<boolean> {
  const result = await pool.query(
    `UPDATE recipients SET preferences = jsonb_set(
       CASE WHEN jsonb_typeof(preferences->'categories') = 'object' THEN preferences
            ELSE jsonb_set(preferences, '{categories}', '{}'::jsonb) END,
       ARRAY['categories', $2::text], 'false'::jsonb), updated_at = now()
     WHERE id = $1`,
    [recipientId, category],
  );
  return (result.rowCount ?? 0) > 0;
}

import type pg from 'pg';
import {
  RECIPIENT_COLUMNS,
  recipientFromRow,
  type RecipientRow,
  type RecipientView,
} from './recipient-view';

/** A recipient in a list: its profile, without its push subscriptions (GET it for those). */
export type RecipientSummary = Omit<RecipientView, 'pushSubscriptions'>;

export interface RecipientListQuery {
  /** Recipients carrying this tag (a campaign's `{tag}` audience). */
  tag?: string;
  /** The recipient with this email address, whatever its case. */
  email?: string;
  /** Only ids after this one (a page's `next`). */
  after?: string;
  limit: number;
}

/**
 * Stored recipients in id order, a page at a time (keyset on the primary
 * key; the tag filter goes through the tags GIN index, the email one through
 * the lower(email) index). `next` is the `after` of the following page.
 */
export async function listRecipients(
  pool: pg.Pool,
  query: RecipientListQuery,
): Promise<{ items: RecipientSummary[]; next?: string }> {
  const { rows } = await pool.query<RecipientRow>({
    text: `SELECT ${RECIPIENT_COLUMNS} FROM recipients
           WHERE ($1::text IS NULL OR id > $1)
             AND ($2::text IS NULL OR tags @> ARRAY[$2::text])
             AND ($3::text IS NULL OR (email IS NOT NULL AND lower(email) = lower($3)))
           ORDER BY id
           LIMIT $4`,
    values: [query.after ?? null, query.tag ?? null, query.email ?? null, query.limit + 1],
  });
  const page = rows.slice(0, query.limit);
  return {
    items: page.map(recipientFromRow),
    ...(rows.length > query.limit ? { next: page[page.length - 1]!.id } : {}),
  };
}

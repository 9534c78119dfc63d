import type { Channel } from '@herald/core';

/** Opt-outs: a channel or category set to false is skipped when sending. */
export interface RecipientPreferences {
  channels: Partial<Record<Channel, boolean>>;
  categories: Record<string, boolean>;
}

/** Everything a PUT replaces: what is absent here is cleared. */
export interface RecipientProfile {
  email: string | null;
  telegramChatId: string | null;
  webhookUrl: string | null;
  locale: string | null;
  timezone: string | null;
  tags: string[];
  preferences: RecipientPreferences;
}

export interface PushSubscriptionView {
  id: string;
  endpoint: string;
  createdAt: string;
  lastUsedAt?: string;
}

/** A stored recipient as the API shows it: push keys are never included. */
export interface RecipientView extends RecipientProfile {
  id: string;
  /** Channels a provider reported unreachable: `{telegram: {at, reason}}`. */
  unreachable: Record<string, unknown>;
  pushSubscriptions: PushSubscriptionView[];
  createdAt: string;
  updatedAt: string;
}

/** The recipient columns the API shows, as every query that reads them selects them. */
export const RECIPIENT_COLUMNS = `id, email, telegram_chat_id, webhook_url, locale, timezone, tags,
  preferences, unreachable, created_at, updated_at`;

export interface RecipientRow {
  id: string;
  email: string | null;
  telegram_chat_id: string | null;
  webhook_url: string | null;
  locale: string | null;
  timezone: string | null;
  tags: string[];
  preferences: Partial<RecipientPreferences> | null;
  unreachable: Record<string, unknown> | null;
  created_at: Date;
  updated_at: Date;
}

/** A row as the API shows it, push subscriptions apart (they are a query of their own). */
export function recipientFromRow(r: RecipientRow): Omit<RecipientView, 'pushSubscriptions'> {
  return {
    id: r.id,
    email: r.email,
    telegramChatId: r.telegram_chat_id,
    webhookUrl: r.webhook_url,
    locale: r.locale,
    timezone: r.timezone,
    tags: r.tags,
    preferences: {
      channels: r.preferences?.channels ?? {},
      categories: r.preferences?.categories ?? {},
    },
    unreachable: r.unreachable ?? {},
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

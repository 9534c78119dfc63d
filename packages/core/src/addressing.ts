import type { Channel } from './topology';
import type { PushSubscription } from './content';

/** What a stored recipient offers a sender: addresses and the recipient's choices. */
export interface RecipientProfile {
  id: string;
  email?: string;
  telegramChatId?: string;
  webhookUrl?: string;
  locale?: string;
  pushSubscriptions: PushSubscription[];
  /** {channels: {email: false}, categories: {marketing: false}} */
  preferences: unknown;
  /** {telegram: {at, reason}}: channels a provider told us are dead. */
  unreachable: unknown;
}

export interface InlineAddresses {
  email?: string;
  telegramChatId?: string;
  pushSubscription?: PushSubscription;
  webhookUrl?: string;
}

export type DeliveryAddress =
  { email: string } | { chatId: string } | { subscription: PushSubscription } | { url: string };

/**
 * Where a channel delivers for this recipient, or why it cannot (a `skipped`
 * delivery's reason): no address, opted out of the channel or the category,
 * or an address a provider reported unreachable.
 */
export function resolveAddresses(
  channel: Channel,
  target: { inline?: InlineAddresses; recipient?: RecipientProfile; category?: string },
): DeliveryAddress[] | { skip: string } {
  const { inline = {}, recipient, category } = target;
  if (recipient) {
    const prefs = (recipient.preferences ?? {}) as {
      channels?: Record<string, boolean>;
      categories?: Record<string, boolean>;
    };
    if (prefs.channels?.[channel] === false) return { skip: `recipient opted out of ${channel}` };
    if (category && prefs.categories?.[category] === false) {
      return { skip: `recipient opted out of category ${category}` };
    }
    const unreachable = (recipient.unreachable ?? {}) as Record<
      string,
      { reason?: string } | undefined
    >;
    const dead = unreachable[channel];
    if (dead)
      return {
        skip: `${channel} address unreachable: ${dead.reason ?? 'reported by the provider'}`,
      };
  }
  switch (channel) {
    case 'email': {
      const email = inline.email ?? recipient?.email;
      return email ? [{ email }] : { skip: 'no email address' };
    }
    case 'telegram': {
      const chatId = inline.telegramChatId ?? recipient?.telegramChatId;
      return chatId ? [{ chatId }] : { skip: 'no telegram chat id' };
    }
    case 'push': {
      const subscriptions = inline.pushSubscription
        ? [inline.pushSubscription]
        : (recipient?.pushSubscriptions ?? []);
      return subscriptions.length > 0
        ? subscriptions.map((subscription) => ({ subscription }))
        : { skip: 'no push subscription' };
    }
    case 'webhook': {
      const url = inline.webhookUrl ?? recipient?.webhookUrl;
      return url ? [{ url }] : { skip: 'no webhook url' };
    }
  }
}

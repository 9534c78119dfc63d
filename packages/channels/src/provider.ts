import type { Channel, DeliveryJobFor, Lane, Logger } from '@herald/core';

/** What a provider sends: a parsed delivery job (providers read its `to` and `content`). */
export type ChannelMessage<C extends Channel> = DeliveryJobFor<C>;

export interface SendContext {
  deliveryId: string;
  notificationId: string;
  campaignId?: string;
  lane: Lane;
  /** 1-based attempt number. */
  attempt: number;
  log: Logger;
}

export interface SendResult {
  providerMessageId?: string;
  /** The provider moved the address (Telegram migrate_to_chat_id): store the new one. */
  movedTo?: { telegramChatId: string };
}

/**
 * One small interface per channel. A provider receives its transport (SMTP
 * transporter, HTTP client) through its factory, and throws DeliveryError
 * with the vendor's codes already classified.
 */
export interface ChannelProvider<C extends Channel = Channel> {
  readonly channel: C;
  send(message: ChannelMessage<C>, ctx: SendContext): Promise<SendResult>;
  /** Releases connections. */
  close(): Promise<void>;
}

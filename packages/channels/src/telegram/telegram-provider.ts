import { DeliveryError, type TelegramContent } from '@herald/core';
import type { ChannelMessage, ChannelProvider, SendContext, SendResult } from '../provider';
import { classifyTelegramReply } from './classify-telegram-error';
import { escapeMarkdownV2 } from './telegram-escape';
import { createTelegramBotApi, type TelegramBotApiOptions } from './telegram-bot-api';
import {
  TELEGRAM_TEXT_LIMIT,
  telegramTextLength,
  type TelegramParseMode,
} from './telegram-text-length';

export type TelegramProviderOptions = TelegramBotApiOptions;

interface OutgoingText {
  text: string;
  parse_mode: TelegramParseMode;
}

/**
 * Text with a parseMode is markup in that mode and goes as it is. Text
 * without one is plain: it goes as MarkdownV2 with every reserved character
 * escaped, so Telegram shows it literally. Either way, text Telegram would
 * refuse for length is refused here, before any request.
 */
export function toTelegramText(content: TelegramContent): OutgoingText {
  const parseMode = content.parseMode ?? 'MarkdownV2';
  const text = content.parseMode === undefined ? escapeMarkdownV2(content.text) : content.text;
  const length = telegramTextLength(text, parseMode);
  if (length > TELEGRAM_TEXT_LIMIT) {
    throw new DeliveryError(
      'content_too_long',
      `telegram text is ${length} characters after entity parsing; the limit is ${TELEGRAM_TEXT_LIMIT}`,
    );
  }
  return { text, parse_mode: parseMode };
}

function messageIdOf(result: unknown): string | undefined {
  const id = (result as { message_id?: unknown } | undefined)?.message_id;
  return typeof id === 'number' || typeof id === 'string' ? String(id) : undefined;
}

/** Telegram through the Bot API's sendMessage, over one keep-alive pool per provider. */
export function createTelegramProvider(
  options: TelegramProviderOptions,
): ChannelProvider<'telegram'> {
  const api = createTelegramBotApi(options);

  /**
   * Sends once. A migrated chat comes back as `migrateTo` when `followMigration`;
   * any other answer that is not ok is thrown, classified.
   */
  async function sendMessage(
    chatId: string,
    outgoing: OutgoingText,
    followMigration: boolean,
  ): Promise<{ providerMessageId?: string; migrateTo?: string }> {
    const { status, reply } = await api.call('sendMessage', {
      chat_id: chatId,
      ...outgoing,
      disable_web_page_preview: true,
    });
    // ok:true means Telegram sent it: never turn that into a retry (and a duplicate).
    if (reply?.ok === true) return { providerMessageId: messageIdOf(reply.result) };
    const migrateTo = reply?.parameters?.migrate_to_chat_id;
    if (followMigration && (typeof migrateTo === 'number' || typeof migrateTo === 'string')) {
      return { migrateTo: String(migrateTo) };
    }
    throw classifyTelegramReply('sendMessage', status, reply);
  }

  return {
    channel: 'telegram',
    async send(message: ChannelMessage<'telegram'>, ctx: SendContext): Promise<SendResult> {
      const outgoing = toTelegramText(message.content);
      const first = await sendMessage(message.to.chatId, outgoing, true);
      if (first.migrateTo === undefined) return { providerMessageId: first.providerMessageId };
      // The group became a supergroup: send there once, and hand back the new id to store.
      ctx.log.info({ deliveryId: ctx.deliveryId }, 'telegram chat migrated; sending to the new id');
      const second = await sendMessage(first.migrateTo, outgoing, false);
      return {
        providerMessageId: second.providerMessageId,
        movedTo: { telegramChatId: first.migrateTo },
      };
    },
    close: () => api.close(),
  };
}

import { loadChannelWorkerConfig, loadTelegramConfig, runService } from '@herald/core';
import { createTelegramProvider } from '@herald/channels';
import { startChannelService } from '@herald/worker-kit';

runService(
  'worker-telegram',
  () => ({
    ...loadChannelWorkerConfig('telegram', process.env),
    telegram: loadTelegramConfig(process.env),
  }),
  async (config, ctx) => {
    const { botToken, apiUrl, timeoutMs, perChatIntervalMs } = config.telegram;
    const provider = botToken
      ? createTelegramProvider({ apiUrl, botToken, timeoutMs, connections: config.concurrency * 2 })
      : { disabled: 'TELEGRAM_BOT_TOKEN is not set' };
    await startChannelService(config, ctx, provider, {
      describe: apiUrl,
      // Telegram allows about one message per second per chat.
      pacing:
        perChatIntervalMs > 0
          ? { intervalMs: perChatIntervalMs, addressOf: (job) => job.to.chatId }
          : undefined,
    });
  },
);

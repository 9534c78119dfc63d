import { loadChannelWorkerConfig, loadWebhookConfig, runService } from '@herald/core';
import { createWebhookProvider } from '@herald/channels';
import { startChannelService } from '@herald/worker-kit';

runService(
  'worker-webhook',
  () => ({
    ...loadChannelWorkerConfig('webhook', process.env),
    webhook: loadWebhookConfig(process.env),
  }),
  async (config, ctx) => {
    const { signingSecret, allowPrivate, timeoutMs } = config.webhook;
    const provider = signingSecret
      ? createWebhookProvider({
          signingSecret,
          allowPrivate,
          timeoutMs,
          connections: config.concurrency * 2,
        })
      : { disabled: 'WEBHOOK_SIGNING_SECRET is not set' };
    await startChannelService(config, ctx, provider, {
      describe: allowPrivate ? 'signed HTTP POST (private targets allowed)' : 'signed HTTP POST',
    });
  },
);

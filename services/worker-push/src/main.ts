import { loadChannelWorkerConfig, loadPushConfig, runService } from '@herald/core';
import { createPushProvider } from '@herald/channels';
import { startChannelService } from '@herald/worker-kit';

runService(
  'worker-push',
  () => ({ ...loadChannelWorkerConfig('push', process.env), push: loadPushConfig(process.env) }),
  async (config, ctx) => {
    const { vapid, ttlSeconds, timeoutMs } = config.push;
    const provider = vapid
      ? createPushProvider({ vapid, ttlSeconds, timeoutMs })
      : { disabled: 'VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY are not set' };
    await startChannelService(config, ctx, provider, { describe: 'Web Push (VAPID)' });
  },
);

import { loadChannelWorkerConfig, loadEmailConfig, runService } from '@herald/core';
import {
  createEmailProvider,
  createEmailTransport,
  describeEmailTransport,
} from '@herald/channels';
import { startChannelService } from '@herald/worker-kit';

runService(
  'worker-email',
  () => ({ ...loadChannelWorkerConfig('email', process.env), email: loadEmailConfig(process.env) }),
  async (config, ctx) => {
    const transport = createEmailTransport({
      ...config.email,
      maxConnections: config.concurrency * 2,
    });
    const provider = createEmailProvider({ transport, from: config.email.from });
    await startChannelService(config, ctx, provider, {
      describe: describeEmailTransport(config.email),
    });
  },
);

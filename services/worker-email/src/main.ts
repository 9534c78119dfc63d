import {
  createDeliveryMetrics,
  createRegistry,
  createWorkerConnection,
  loadChannelWorkerConfig,
  loadEmailConfig,
  runService,
  startOpsServer,
} from '@herald/core';
import {
  createEmailProvider,
  createEmailTransport,
  describeEmailTransport,
} from '@herald/channels';
import { createDatabase, DeliveryLedger } from '@herald/db';
import { createChannelWorker } from '@herald/worker-kit';

runService(
  'worker-email',
  () => ({ ...loadChannelWorkerConfig('email', process.env), email: loadEmailConfig(process.env) }),
  async (config, { log, stack }) => {
    const connection = stack.own(createWorkerConnection(config.redisUrl), (r) => r.quit(), 'redis');
    const db = stack.own(
      createDatabase(config.databaseUrl, { max: 4, applicationName: 'herald-worker-email' }),
      (d) => d.close(),
      'postgres',
    );
    const ledger = stack.own(
      new DeliveryLedger(db.pool, {
        onWriteError: (err) => log.error({ err }, 'status write failed; retrying'),
      }),
      (l) => l.close(),
      'ledger',
    );
    const transport = createEmailTransport({
      ...config.email,
      maxConnections: config.concurrency * 2,
    });
    const provider = stack.own(
      createEmailProvider({ transport, from: config.email.from }),
      (p) => p.close(),
      'smtp',
    );
    const registry = createRegistry('worker-email');
    const metrics = createDeliveryMetrics(registry);
    stack.own(
      createChannelWorker({
        provider,
        config,
        connection,
        pool: db.pool,
        ledger,
        metrics,
        registry,
        log,
      }),
      (w) => w.close(),
      'worker',
    );
    const ops = await startOpsServer({
      port: config.metricsPort,
      registry,
      checks: {
        redis: async () => {
          await connection.ping();
        },
        postgres: async () => {
          await db.pool.query('SELECT 1');
        },
      },
    });
    stack.own(ops, (o) => o.close(), 'ops-server');
    log.info(
      { transport: describeEmailTransport(config.email), metricsPort: ops.port },
      'email worker started',
    );
  },
);

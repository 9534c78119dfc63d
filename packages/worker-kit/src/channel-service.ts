import { hostname } from 'node:os';
import {
  createDeliveryMetrics,
  createRegistry,
  createWorkerConnection,
  publishCircuitState,
  startOpsServer,
  withdrawCircuitState,
  type Channel,
  type ChannelWorkerConfig,
  type ServiceContext,
} from '@herald/core';
import type { ChannelProvider } from '@herald/channels';
import { createDatabase, createSchemaCheck, DeliveryLedger } from '@herald/db';
import { createChannelWorker, type ChannelWorkerDeps } from './channel-worker';
import {
  createTemplateRenderer,
  loadStoredTemplate,
  subscribeTemplateChanges,
} from '@herald/templates';

/** A provider, or why the channel cannot run here (missing credentials). */
export type ProviderOrDisabled<C extends Channel> = ChannelProvider<C> | { disabled: string };

/**
 * Everything a channel service does besides building its provider: Redis and
 * Postgres connections, the ledger, the channel worker, metrics and the ops
 * server (/metrics, /healthz, /readyz on METRICS_PORT), all released in
 * reverse on shutdown. A channel without credentials is reported as disabled
 * and idles (jobs wait in Redis), it never crashes.
 */
export async function startChannelService<C extends Channel>(
  config: ChannelWorkerConfig,
  { log, stack }: ServiceContext,
  provider: ProviderOrDisabled<C>,
  options: Pick<ChannelWorkerDeps<C>, 'pacing'> & { describe?: string } = {},
): Promise<void> {
  const service = `worker-${config.channel}`;
  const registry = createRegistry(service);
  if ('disabled' in provider) {
    const ops = await startOpsServer({ port: config.metricsPort, registry, checks: {}, log });
    stack.own(ops, (o) => o.close(), 'ops-server');
    log.warn(
      { channel: config.channel, metricsPort: ops.port },
      `${config.channel} channel disabled: ${provider.disabled}`,
    );
    return;
  }
  const connection = stack.own(createWorkerConnection(config.redisUrl), (r) => r.quit(), 'redis');
  connection.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  const db = stack.own(
    createDatabase(config.databaseUrl, { max: 4, applicationName: `herald-${service}` }),
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
  stack.own(provider, (p) => p.close(), 'provider');
  const metrics = createDeliveryMetrics(registry);
  // Compiled templates are cached per version; an update anywhere drops the entry here.
  const templates = createTemplateRenderer({ load: (key) => loadStoredTemplate(db.prisma, key) });
  const unsubscribe = await subscribeTemplateChanges(
    connection,
    config.queuePrefix,
    (key) => templates.invalidate(key),
    {
      onReconnect: () => templates.clear(),
    },
  );
  stack.defer('template changes', unsubscribe);
  const instanceId = `${hostname()}:${process.pid}`;
  const worker = createChannelWorker({
    provider,
    config,
    connection,
    pool: db.pool,
    ledger,
    metrics,
    registry,
    log,
    pacing: options.pacing,
    templates,
    lockDurationMs: config.jobLockMs,
    stalledIntervalMs: config.stalledCheckMs,
    onCircuitState: (state) =>
      publishCircuitState(connection, config.queuePrefix, config.channel, instanceId, state).catch(
        () => {},
      ),
  });
  stack.defer('circuit report', () =>
    withdrawCircuitState(connection, config.queuePrefix, config.channel, instanceId),
  );
  stack.own(worker, (w) => w.close(), 'worker');
  const ops = await startOpsServer({
    port: config.metricsPort,
    registry,
    log,
    checks: {
      redis: async () => {
        await connection.ping();
      },
      postgres: async () => {
        await db.pool.query('SELECT 1');
      },
      schema: createSchemaCheck(db.pool),
    },
  });
  stack.own(ops, (o) => o.close(), 'ops-server');
  log.info(
    {
      channel: config.channel,
      concurrency: config.concurrency,
      metricsPort: ops.port,
      provider: options.describe,
    },
    `${config.channel} worker started`,
  );
}

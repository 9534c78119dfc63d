import type { AddressInfo } from 'node:net';
import { createApp, createHttpServer } from '@herald/api';
import {
  closeQueues,
  createDeadLetterQueues,
  createLaneQueues,
  createProducerConnection,
  createRegistry,
  loadGatewayConfig,
  runService,
} from '@herald/core';
import { createDatabase, OutboxAcknowledger } from '@herald/db';

runService(
  'gateway',
  () => loadGatewayConfig(process.env),
  async (config, { log, stack }) => {
    const db = stack.own(
      createDatabase(config.databaseUrl, { max: 20, applicationName: 'herald-gateway' }),
      (d) => d.close(),
      'postgres',
    );
    const redis = stack.own(createProducerConnection(config.redisUrl), (r) => r.quit(), 'redis');
    redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
    const queues = stack.own(
      createLaneQueues(redis, config.queuePrefix),
      (q) => closeQueues(q.values()),
      'queues',
    );
    const deadLetterQueues = stack.own(
      createDeadLetterQueues(redis, config.queuePrefix),
      (q) => closeQueues(q.values()),
      'dead-letter queues',
    );
    const outboxAck = stack.own(new OutboxAcknowledger(db.pool), (a) => a.close(), 'outbox');
    const registry = createRegistry('gateway');
    const app = createApp({
      config,
      db,
      redis,
      queues,
      deadLetterQueues,
      outboxAck,
      registry,
      log,
      stack,
    });
    const server = createHttpServer(app).listen(config.port);
    stack.own(server, (s) => new Promise((resolve) => s.close(resolve)), 'http');
    await new Promise<void>((resolve, reject) =>
      server.once('listening', resolve).once('error', reject),
    );
    log.info({ port: (server.address() as AddressInfo).port }, 'gateway listening');
  },
  { processes: (config) => config.processes },
);

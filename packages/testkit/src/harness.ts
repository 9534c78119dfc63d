import type { Express } from 'express';
import type { Queue } from 'bullmq';
import pino from 'pino';
import { createApp } from '@herald/api';
import { createEmailProvider, createEmailTransport } from '@herald/channels';
import {
  closeQueues,
  createDeliveryMetrics,
  createLaneQueues,
  createProducerConnection,
  createRegistry,
  createWorkerConnection,
  type Logger,
  type Redis,
  type RetryConfig,
} from '@herald/core';
import { DeliveryLedger, OutboxAcknowledger, type Database } from '@herald/db';
import { createChannelWorker, type ChannelWorker } from '@herald/worker-kit';
import { createTestDatabase, type TestDatabase } from './test-database';
import { deleteKeysWithPrefix, TEST_REDIS_URL, uniqueQueuePrefix } from './redis-namespace';
import { testJwtConfig } from './tokens';

export const FAST_RETRY: RetryConfig = {
  baseMs: 20,
  maxMs: 200,
  attempts: { transactional: 5, campaign: 3 },
};

export interface EmailWorkerOptions {
  smtpUrl?: string;
  outboxDir?: string;
  concurrency?: number;
  from?: string;
}

/**
 * Herald composed in-process the way the services' main.ts compose it, on a
 * database of its own and a Redis prefix of its own: the gateway app (for
 * supertest) and, on demand, channel workers. `close()` releases everything
 * and deletes the test's keys and database.
 */
export interface Harness {
  app: Express;
  db: Database;
  testDb: TestDatabase;
  prefix: string;
  redis: Redis;
  queues: Map<string, Queue>;
  retry: RetryConfig;
  log: Logger;
  startEmailWorker(options?: EmailWorkerOptions): ChannelWorker;
  close(): Promise<void>;
}

export async function createHarness(
  options: { retry?: RetryConfig; logLevel?: string } = {},
): Promise<Harness> {
  const log = pino({ level: options.logLevel ?? process.env.TEST_LOG_LEVEL ?? 'silent' });
  const testDb = await createTestDatabase();
  const prefix = uniqueQueuePrefix();
  const retry = options.retry ?? FAST_RETRY;
  const redis = createProducerConnection(TEST_REDIS_URL);
  redis.on('error', () => {});
  const queues = createLaneQueues(redis, prefix);
  const outboxAck = new OutboxAcknowledger(testDb.db.pool);
  const app = createApp({
    config: { jwt: testJwtConfig, retry },
    db: testDb.db,
    redis,
    queues,
    outboxAck,
    registry: createRegistry('gateway-test', false),
    log,
  });
  const releases: (() => Promise<unknown>)[] = [];

  return {
    app,
    db: testDb.db,
    testDb,
    prefix,
    redis,
    queues,
    retry,
    log,
    startEmailWorker(workerOptions: EmailWorkerOptions = {}) {
      const connection = createWorkerConnection(TEST_REDIS_URL);
      const ledger = new DeliveryLedger(testDb.db.pool);
      const concurrency = workerOptions.concurrency ?? 5;
      const provider = createEmailProvider({
        transport: createEmailTransport({
          smtpUrl: workerOptions.smtpUrl,
          outboxDir: workerOptions.outboxDir ?? '/tmp/herald-test-outbox',
          maxConnections: concurrency,
        }),
        from: workerOptions.from ?? 'Herald Test <herald@example.test>',
      });
      const worker = createChannelWorker({
        provider,
        config: { queuePrefix: prefix, concurrency, retry },
        connection,
        ledger,
        metrics: createDeliveryMetrics(createRegistry('worker-test', false)),
        log,
      });
      releases.push(async () => {
        await worker.close(5000);
        await ledger.close();
        await provider.close();
        await connection.quit();
      });
      return worker;
    },
    async close() {
      for (const release of releases.reverse()) await release();
      await outboxAck.close();
      await closeQueues(queues.values());
      await redis.quit().catch(() => {});
      await deleteKeysWithPrefix(prefix);
      await testDb.drop();
    },
  };
}

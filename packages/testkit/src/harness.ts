import type https from 'node:https';
import type { Express } from 'express';
import type { Queue } from 'bullmq';
import pino from 'pino';
import { createApp, type AppDeps } from '@herald/api';
import {
  createEmailProvider,
  createEmailTransport,
  createPushProvider,
  createTelegramProvider,
  createWebhookProvider,
  type ChannelProvider,
} from '@herald/channels';
import {
  closeQueues,
  createDeliveriesCounter,
  createDeliveryMetrics,
  createDeadLetterQueues,
  createLaneQueues,
  createProducerConnection,
  createRegistry,
  createWorkerConnection,
  type Logger,
  type Redis,
  type BreakerConfig,
  type Channel,
  type DeliveryMetrics,
  type RetryConfig,
} from '@herald/core';
import { DeliveryLedger, OutboxAcknowledger, type Database } from '@herald/db';
import {
  createChannelWorker,
  type ChannelWorker,
  type CampaignThrottle,
  type ChannelWorkerDeps,
} from '@herald/worker-kit';
import type { Registry } from 'prom-client';
import { createTemplateRenderer, loadStoredTemplate } from '@herald/templates';
import { createScheduler, type Scheduler, type SchedulerDeps } from '@herald/scheduler';
import { createTestDatabase, type TestDatabase } from './test-database';
import { deleteKeysWithPrefix, TEST_REDIS_URL, uniqueQueuePrefix } from './redis-namespace';
import { testJwtConfig } from './tokens';

export const FAST_RETRY: RetryConfig = {
  baseMs: 20,
  maxMs: 200,
  attempts: { transactional: 5, campaign: 3 },
};

export const TEST_UNSUBSCRIBE_SECRET = 'test-unsubscribe-secret-0123456789-abcdef';

export const DEFAULT_TEST_BREAKER: BreakerConfig = {
  errorPercent: 50,
  volume: 20,
  windowMs: 10_000,
  resetMs: 30_000,
};

export interface WorkerOptions {
  concurrency?: number;
  /** Stands in for the Redis campaign throttle (wrap the real one to watch it). */
  campaignThrottle?: CampaignThrottle;
  ratePerSecond?: number;
  breaker?: BreakerConfig;
  stalledIntervalMs?: number;
  lockDurationMs?: number;
  sweepIntervalMs?: number;
}

export interface WebhookWorkerOptions extends WorkerOptions {
  signingSecret: string;
  allowPrivate?: boolean;
  timeoutMs?: number;
}

export interface TelegramWorkerOptions extends WorkerOptions {
  apiUrl: string;
  botToken: string;
  perChatIntervalMs?: number;
  timeoutMs?: number;
}

export interface PushWorkerOptions extends WorkerOptions {
  vapid: { publicKey: string; privateKey: string; subject: string };
  /** Trusts the test push service's certificate. */
  agent: https.Agent;
  ttlSeconds?: { transactional: number; campaign: number };
}

export interface EmailWorkerOptions extends WorkerOptions {
  smtpUrl?: string;
  outboxDir?: string;
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
  startWebhookWorker(options: WebhookWorkerOptions): ChannelWorker;
  startTelegramWorker(options: TelegramWorkerOptions): ChannelWorker;
  startPushWorker(options: PushWorkerOptions): ChannelWorker;
  /**
   * Another gateway app on this harness's database and queues, with other
   * settings (or other Redis connections: one that goes away, say).
   */
  appWith(
    config?: Partial<AppDeps['config']>,
    connections?: Pick<AppDeps, 'redis' | 'queues'>,
  ): Express;
  /** The scheduler loop (relay, campaign fan-out) on this harness's database and queues. */
  startScheduler(options?: Partial<Pick<SchedulerDeps, 'tickMs' | 'relay' | 'fanout'>>): Scheduler;
  /** Runs any provider through the generic channel worker, as a channel service would. */
  startWorker<C extends Channel>(
    provider: ChannelProvider<C>,
    options?: WorkerOptions & Pick<ChannelWorkerDeps<C>, 'pacing'>,
  ): ChannelWorker;
  /** A channel's dead-letter queue (producer handle). */
  dlq(channel: Channel): Queue;
  /** Metrics of the workers started by this harness. */
  workerMetrics: DeliveryMetrics;
  workerRegistry: Registry;
  /** Metrics of the schedulers started by this harness (the gateway's are at GET /metrics). */
  schedulerRegistry: Registry;
  close(): Promise<void>;
}

export async function createHarness(
  options: {
    retry?: RetryConfig;
    logLevel?: string;
    admin?: { user: string; password: string };
    vapidPublicKey?: string;
  } = {},
): Promise<Harness> {
  const log = pino({ level: options.logLevel ?? process.env.TEST_LOG_LEVEL ?? 'silent' });
  const testDb = await createTestDatabase();
  const prefix = uniqueQueuePrefix();
  const retry = options.retry ?? FAST_RETRY;
  const redis = createProducerConnection(TEST_REDIS_URL);
  redis.on('error', () => {});
  const queues = createLaneQueues(redis, prefix);
  const deadLetterQueues = createDeadLetterQueues(redis, prefix);
  const releases: (() => Promise<unknown>)[] = [];
  const defaultConfig: AppDeps['config'] = {
    jwt: testJwtConfig,
    retry,
    queuePrefix: prefix,
    admin: options.admin,
    publicUrl: 'http://herald.test',
    vapidPublicKey: options.vapidPublicKey,
    unsubscribeSecret: TEST_UNSUBSCRIBE_SECRET,
  };

  /** A gateway app on this harness's database and queues, with its own outbox acknowledger. */
  function appWith(
    config: Partial<AppDeps['config']> = {},
    connections: Pick<AppDeps, 'redis' | 'queues'> = { redis, queues },
  ): Express {
    const ack = new OutboxAcknowledger(testDb.db.pool);
    releases.push(() => ack.close());
    return createApp({
      config: { ...defaultConfig, ...config },
      deadLetterQueues,
      db: testDb.db,
      ...connections,
      outboxAck: ack,
      registry: createRegistry('gateway-test', false),
      log,
    });
  }
  const outboxAck = new OutboxAcknowledger(testDb.db.pool);
  const app = createApp({
    config: defaultConfig,
    deadLetterQueues,
    db: testDb.db,
    redis,
    queues,
    outboxAck,
    registry: createRegistry('gateway-test', false),
    log,
  });
  const workerRegistry = createRegistry('worker-test', false);
  const workerMetrics = createDeliveryMetrics(workerRegistry);
  const schedulerRegistry = createRegistry('scheduler-test', false);
  const schedulerDeliveries = createDeliveriesCounter(schedulerRegistry);

  function startWorker<C extends Channel>(
    provider: ChannelProvider<C>,
    options: WorkerOptions & Pick<ChannelWorkerDeps<C>, 'pacing'> = {},
  ): ChannelWorker {
    const connection = createWorkerConnection(TEST_REDIS_URL);
    const ledger = new DeliveryLedger(testDb.db.pool);
    const worker = createChannelWorker({
      provider,
      config: {
        queuePrefix: prefix,
        concurrency: options.concurrency ?? 5,
        ratePerSecond: options.ratePerSecond ?? 0,
        retry,
        breaker: options.breaker ?? DEFAULT_TEST_BREAKER,
      },
      connection,
      pool: testDb.db.pool,
      ledger,
      metrics: workerMetrics,
      log,
      pacing: options.pacing,
      campaignThrottle: options.campaignThrottle,
      templates: createTemplateRenderer({
        load: (key) => loadStoredTemplate(testDb.db.prisma, key),
        ttlMs: 200,
      }),
      stalledIntervalMs: options.stalledIntervalMs,
      lockDurationMs: options.lockDurationMs,
      sweepIntervalMs: options.sweepIntervalMs,
    });
    releases.push(async () => {
      await worker.close(5000);
      await ledger.close();
      await provider.close();
      await connection.quit();
    });
    return worker;
  }

  return {
    app,
    appWith,
    db: testDb.db,
    testDb,
    prefix,
    redis,
    queues,
    retry,
    log,
    workerMetrics,
    workerRegistry,
    schedulerRegistry,
    startWorker,
    dlq: (channel: Channel) => deadLetterQueues.get(channel)!,
    startWebhookWorker(o: WebhookWorkerOptions) {
      return startWorker(
        createWebhookProvider({
          signingSecret: o.signingSecret,
          allowPrivate: o.allowPrivate ?? true,
          timeoutMs: o.timeoutMs ?? 5000,
        }),
        o,
      );
    },
    startTelegramWorker(o: TelegramWorkerOptions) {
      const provider = createTelegramProvider({
        apiUrl: o.apiUrl,
        botToken: o.botToken,
        timeoutMs: o.timeoutMs ?? 5000,
      });
      const intervalMs = o.perChatIntervalMs ?? 0;
      return startWorker(provider, {
        ...o,
        pacing: intervalMs > 0 ? { intervalMs, addressOf: (job) => job.to.chatId } : undefined,
      });
    },
    startPushWorker(o: PushWorkerOptions) {
      return startWorker(
        createPushProvider({
          vapid: o.vapid,
          agent: o.agent,
          timeoutMs: 5000,
          ttlSeconds: o.ttlSeconds ?? { transactional: 900, campaign: 86_400 },
        }),
        o,
      );
    },
    startScheduler(o = {}) {
      const scheduler = createScheduler({
        pool: testDb.db.pool,
        queues,
        retry,
        links: { publicUrl: 'http://herald.test', unsubscribeSecret: TEST_UNSUBSCRIBE_SECRET },
        log,
        deliveries: schedulerDeliveries,
        tickMs: 50,
        ...o,
      });
      scheduler.start();
      releases.push(() => scheduler.close());
      return scheduler;
    },
    startEmailWorker(workerOptions: EmailWorkerOptions = {}) {
      const concurrency = workerOptions.concurrency ?? 5;
      const provider = createEmailProvider({
        transport: createEmailTransport({
          smtpUrl: workerOptions.smtpUrl,
          outboxDir: workerOptions.outboxDir ?? '/tmp/herald-test-outbox',
          maxConnections: concurrency,
        }),
        from: workerOptions.from ?? 'Herald Test <herald@example.test>',
      });
      return startWorker(provider, workerOptions);
    },
    async close() {
      for (const release of releases.reverse()) await release();
      await outboxAck.close();
      await closeQueues([...queues.values(), ...deadLetterQueues.values()]);
      await redis.quit().catch(() => {});
      await deleteKeysWithPrefix(prefix);
      await testDb.drop();
    },
  };
}

import { Queue, Worker } from 'bullmq';
import {
  createLaneQueues,
  createQueueGauges,
  findHeldDeliveries,
  queueGaugeCollectors,
  deadLetterQueueName,
  laneQueues,
  type Channel,
  type ChannelWorkerConfig,
  type DeliveryJobFor,
  type DeliveryMetrics,
  type Logger,
  type Redis,
} from '@herald/core';
import type { ChannelProvider } from '@herald/channels';
import type { DeliveryLedger } from '@herald/db';
import type pg from 'pg';
import type { TemplateRenderer } from '@herald/templates';
import type { Registry } from 'prom-client';
import { createAddressBook } from './address-book';
import { createAddressPacer } from './address-pacer';
import { createCampaignThrottle, type CampaignThrottle } from './campaign-throttle';
import { CIRCUIT_STATE_VALUE, createChannelCircuit, type CircuitState } from './circuit';
import { createDeadLetters } from './dead-letters';
import { startFailedJobSweep } from './failed-job-sweep';
import { createFallbackChain } from './fallback';
import { createDeliverOne } from './deliver-one';
import { createJobProcessor } from './process-delivery';
import { createProviderBudget } from './provider-budget';
import { retryBackoffMs } from './retry-backoff';

export interface ChannelWorkerDeps<C extends Channel> {
  provider: ChannelProvider<C>;
  config: Pick<
    ChannelWorkerConfig,
    'queuePrefix' | 'concurrency' | 'ratePerSecond' | 'retry' | 'breaker'
  >;
  /** Shared by the producer-side queues; BullMQ duplicates it for the workers' blocking reads. */
  connection: Redis;
  pool: pg.Pool;
  ledger: DeliveryLedger;
  metrics: DeliveryMetrics;
  /** Where the queue and DLQ gauges are registered (omit to skip them). */
  registry?: Registry;
  log: Logger;
  /** Per-address pacing, e.g. Telegram's one message per chat per second. */
  pacing?: { intervalMs: number; addressOf(job: DeliveryJobFor<C>): string | undefined };
  /** Renders deliveries whose content is a stored template. */
  templates?: TemplateRenderer;
  /** Called with the breaker's state at start, on every change and periodically (for GET /v1/queues). */
  onCircuitState?: (state: CircuitState) => void;
  /** Where throttled campaigns take their slots; defaults to Redis on `connection` (tests observe it). */
  campaignThrottle?: CampaignThrottle;
  /** Tuning for tests: how fast a crashed worker's jobs are recovered. */
  stalledIntervalMs?: number;
  lockDurationMs?: number;
  sweepIntervalMs?: number;
}

export interface ChannelWorker {
  readonly workers: readonly Worker[];
  /** Moves jobs stuck in the failed set into the DLQ now (it also runs periodically). */
  sweepFailed(): Promise<number>;
  /** Stops taking jobs, waits (bounded) for those in flight, then releases. */
  close(drainTimeoutMs?: number): Promise<void>;
}

/**
 * How long close() waits for in-flight jobs before giving up on them (their
 * locks then expire and another worker recovers them). Deployments give a
 * worker longer than this to stop (k8s terminationGracePeriodSeconds).
 */
export const WORKER_DRAIN_TIMEOUT_MS = 25_000;

/**
 * Generous: the limiter only exists so that queue.rateLimit() pauses take
 * effect. `queue.getRateLimitTtl(PAUSE_ONLY_LIMITER.max)` tells how long a
 * lane is still paused (0: not paused).
 */
export const PAUSE_ONLY_LIMITER = { max: 1_000_000, duration: 1000 };

/**
 * The generic channel worker: one BullMQ worker per lane of the channel (so
 * each lane has its own slots), all driving one provider through one circuit
 * breaker, one provider budget and one dead-letter queue. A channel service is
 * this plus its provider.
 */
export function createChannelWorker<C extends Channel>(deps: ChannelWorkerDeps<C>): ChannelWorker {
  const { provider, config, connection, log } = deps;
  const channel = provider.channel;
  const prefix = config.queuePrefix;
  const policy = { baseMs: config.retry.baseMs, maxMs: config.retry.maxMs };

  const allQueues = createLaneQueues(connection, prefix);
  const ownLanes = laneQueues(channel);
  const channelQueues = new Map(ownLanes.map(({ name }) => [name, allQueues.get(name)!] as const));
  const dlq = new Queue(deadLetterQueueName(channel), { connection, prefix });
  const deadLetters = createDeadLetters({ dlq, channel, pool: deps.pool });

  const circuit = createChannelCircuit(config.breaker, (state) => {
    deps.metrics.circuitState.set({ channel }, CIRCUIT_STATE_VALUE[state]);
    deps.onCircuitState?.(state);
    log.warn({ channel, state }, `circuit ${state}`);
    if (state === 'open') {
      // Stop every replica fetching from this channel until the half-open probe.
      for (const q of channelQueues.values()) {
        q.rateLimit(config.breaker.resetMs).catch((err: unknown) =>
          log.error({ err }, 'could not pause the queue'),
        );
      }
    }
  });
  deps.metrics.circuitState.set({ channel }, 0);
  deps.onCircuitState?.('closed');
  const circuitHeartbeat = setInterval(() => deps.onCircuitState?.(circuit.state), 15_000);
  circuitHeartbeat.unref();

  const deliverOne = createDeliverOne<C>({
    provider,
    ledger: deps.ledger,
    metrics: deps.metrics,
    log,
    circuit,
    deadLetters,
    fallback: createFallbackChain({
      queues: allQueues,
      retry: config.retry,
      ledger: deps.ledger,
      log,
      deliveries: deps.metrics.deliveries,
    }),
    addressBook: createAddressBook({ pool: deps.pool, log }),
    budget:
      config.ratePerSecond > 0
        ? createProviderBudget(connection, {
            keyPrefix: prefix,
            channel,
            ratePerSecond: config.ratePerSecond,
          })
        : undefined,
    pacer: deps.pacing
      ? {
          pacer: createAddressPacer(connection, {
            keyPrefix: `${prefix}:pace:${channel}`,
            intervalMs: deps.pacing.intervalMs,
          }),
          addressOf: deps.pacing.addressOf,
        }
      : undefined,
  });
  const processJob = createJobProcessor<C>({
    channel,
    deliverOne,
    ledger: deps.ledger,
    deadLetters,
    metrics: deps.metrics,
    pool: deps.pool,
    retry: config.retry,
    log,
    laneQueues: channelQueues,
    templates: deps.templates,
    throttle: deps.campaignThrottle ?? createCampaignThrottle(connection, { keyPrefix: prefix }),
    findHeld: (members) => findHeldDeliveries(connection, prefix, members),
  });

  const workers = ownLanes.map(({ name, lane }) => {
    const worker = new Worker(name, processJob, {
      connection,
      prefix,
      concurrency: config.concurrency,
      limiter: PAUSE_ONLY_LIMITER,
      maximumRateLimitDelay: 1000,
      removeOnComplete: { count: 0 },
      maxStalledCount: 2,
      ...(deps.stalledIntervalMs !== undefined ? { stalledInterval: deps.stalledIntervalMs } : {}),
      ...(deps.lockDurationMs !== undefined ? { lockDuration: deps.lockDurationMs } : {}),
      settings: {
        backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) =>
          retryBackoffMs(attemptsMade, policy, err),
      },
    });
    const laneLog = log.child({ queue: name, lane });
    worker.on('error', (err) => laneLog.error({ err }, 'worker error'));
    worker.on('stalled', (jobId) => laneLog.warn({ jobId }, 'job stalled; it will be retried'));
    return worker;
  });

  if (deps.registry) {
    createQueueGauges(
      deps.registry,
      queueGaugeCollectors(channelQueues.values(), new Map([[channel, dlq]])),
    );
  }
  const sweep = startFailedJobSweep({
    queues: [...channelQueues.values()],
    deadLetters,
    ledger: deps.ledger,
    log,
    intervalMs: deps.sweepIntervalMs,
  });

  return {
    workers,
    sweepFailed: sweep.sweepNow,
    async close(drainTimeoutMs = WORKER_DRAIN_TIMEOUT_MS) {
      sweep.stop();
      clearInterval(circuitHeartbeat);
      const graceful = Promise.all(workers.map((w) => w.close()));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        graceful.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), drainTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        // Unfinished jobs keep their lock until it expires; another worker then recovers them.
        log.warn({ drainTimeoutMs }, 'drain timed out; closing with jobs in flight');
        await Promise.all(workers.map((w) => w.close(true)));
      }
      circuit.shutdown();
      await deps.ledger.flush();
      await Promise.all([...allQueues.values(), dlq].map((q) => q.close()));
    },
  };
}

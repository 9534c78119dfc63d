import { Worker } from 'bullmq';
import {
  backoffDelayMs,
  DeliveryError,
  laneQueues,
  type Channel,
  type ChannelWorkerConfig,
  type DeliveryMetrics,
  type Logger,
  type Redis,
} from '@herald/core';
import type { ChannelProvider } from '@herald/channels';
import type { DeliveryLedger } from '@herald/db';
import { createDeliveryProcessor } from './process-delivery';

export interface ChannelWorkerDeps<C extends Channel> {
  provider: ChannelProvider<C>;
  config: Pick<ChannelWorkerConfig, 'queuePrefix' | 'concurrency' | 'retry'>;
  /** BullMQ duplicates it for its blocking connections. */
  connection: Redis;
  ledger: DeliveryLedger;
  metrics: DeliveryMetrics;
  log: Logger;
  /** Tuning for tests: how fast a crashed worker's jobs are recovered. */
  stalledIntervalMs?: number;
  lockDurationMs?: number;
}

export interface ChannelWorker {
  readonly workers: readonly Worker[];
  /** Stops taking jobs, waits (bounded) for those in flight, then releases. */
  close(drainTimeoutMs?: number): Promise<void>;
}

/**
 * The generic channel worker: one BullMQ worker per lane of the channel, all
 * driving the same provider. A channel service is this plus its provider.
 */
export function createChannelWorker<C extends Channel>(deps: ChannelWorkerDeps<C>): ChannelWorker {
  const { provider, config, connection, log } = deps;
  const process = createDeliveryProcessor(deps);
  const policy = { baseMs: config.retry.baseMs, maxMs: config.retry.maxMs };

  const workers = laneQueues(provider.channel).map(({ name, lane }) => {
    const worker = new Worker(name, process, {
      connection,
      prefix: config.queuePrefix,
      concurrency: config.concurrency,
      removeOnComplete: { count: 0 },
      ...(deps.stalledIntervalMs !== undefined ? { stalledInterval: deps.stalledIntervalMs } : {}),
      ...(deps.lockDurationMs !== undefined ? { lockDuration: deps.lockDurationMs } : {}),
      settings: {
        backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) =>
          backoffDelayMs(
            attemptsMade,
            policy,
            err instanceof DeliveryError ? err.retryAfterMs : undefined,
          ),
      },
    });
    const laneLog = log.child({ queue: name, lane });
    worker.on('error', (err) => laneLog.error({ err }, 'worker error'));
    worker.on('stalled', (jobId) => laneLog.warn({ jobId }, 'job stalled, will be retried'));
    return worker;
  });

  return {
    workers,
    async close(drainTimeoutMs = 25_000) {
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
        // Unfinished jobs keep their lock until it expires, then another worker recovers them.
        log.warn({ drainTimeoutMs }, 'drain timed out; closing with jobs in flight');
        await Promise.all(workers.map((w) => w.close(true)));
      }
      await deps.ledger.flush();
    },
  };
}

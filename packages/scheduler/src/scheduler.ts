import type { Queue } from 'bullmq';
import type { DeliveriesCounter, Logger, RetryConfig } from '@herald/core';
import { completeFinishedCampaigns, startDueCampaigns } from '@herald/db';
import type pg from 'pg';
import {
  createCampaignFanout,
  type CampaignFanoutOptions,
  type CampaignLinks,
} from './campaign-fanout';
import { createCampaignPageRelay } from './campaign-page-relay';
import { purgeExpiredIdempotencyKeys, vacuumOutbox } from './maintenance';
import { createOutboxRelay, type OutboxRelayOptions } from './outbox-relay';

export interface SchedulerDeps {
  pool: pg.Pool;
  queues: Map<string, Queue>;
  retry: RetryConfig;
  links: CampaignLinks;
  log: Logger;
  /** herald_deliveries_total, for the deliveries the fan-out creates `skipped`. */
  deliveries?: DeliveriesCounter;
  /** How often a pass runs when the previous one found nothing to do. */
  tickMs?: number;
  relay?: OutboxRelayOptions;
  fanout?: CampaignFanoutOptions;
}

export interface Scheduler {
  /** One full pass: relay, campaign starts, fan-out, completions. Resolves with the work done. */
  runOnce(): Promise<{ relayed: number; expanded: number }>;
  start(): void;
  /** Stops after the pass in progress. */
  close(): Promise<void>;
}

/**
 * Everything time-driven: scheduled sends coming due and entries the gateway
 * could not enqueue (outbox relay), campaigns starting, expanding and
 * completing, and housekeeping. Passes never overlap within a process, and
 * every step is safe with N replicas (row locks with SKIP LOCKED, job ids).
 */
export function createScheduler(deps: SchedulerDeps): Scheduler {
  const relay = createOutboxRelay({
    pool: deps.pool,
    queues: deps.queues,
    retry: deps.retry,
    log: deps.log,
    options: deps.relay,
  });
  const pageRelay = createCampaignPageRelay({
    pool: deps.pool,
    queues: deps.queues,
    retry: deps.retry,
    log: deps.log,
    options: { leaseMs: deps.relay?.leaseMs },
  });
  const fanout = createCampaignFanout({
    pool: deps.pool,
    queues: deps.queues,
    retry: deps.retry,
    links: deps.links,
    log: deps.log,
    deliveries: deps.deliveries,
    options: deps.fanout,
  });
  const tickMs = deps.tickMs ?? 250;
  let running: Promise<unknown> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let lastPurge = 0;
  let lastVacuum = 0;

  async function runOnce(): Promise<{ relayed: number; expanded: number }> {
    let relayed = 0;
    for (let n = await relay.runOnce(); n > 0; n = await relay.runOnce()) relayed += n;
    for (let n = await pageRelay.runOnce(); n > 0; n = await pageRelay.runOnce()) relayed += n;
    for (const id of await startDueCampaigns(deps.pool))
      deps.log.info({ campaignId: id }, 'campaign started');
    let expanded = 0;
    // Bounded per pass so the relay keeps its rhythm during a long fan-out.
    for (let i = 0; i < 20; i++) {
      const n = await fanout.runOnce();
      if (n === 0) break;
      expanded += n;
    }
    for (const id of await completeFinishedCampaigns(deps.pool))
      deps.log.info({ campaignId: id }, 'campaign completed');
    if (Date.now() - lastPurge > 60_000) {
      lastPurge = Date.now();
      await purgeExpiredIdempotencyKeys(deps.pool);
    }
    if (Date.now() - lastVacuum > 10_000) {
      lastVacuum = Date.now();
      await vacuumOutbox(deps.pool);
    }
    return { relayed, expanded };
  }

  function loop(): void {
    if (stopped) return;
    running = runOnce()
      .then(
        ({ relayed, expanded }) => (relayed + expanded > 0 ? 0 : tickMs),
        (err: unknown) => {
          deps.log.error({ err }, 'scheduler pass failed');
          return tickMs * 4;
        },
      )
      .then((wait) => {
        if (!stopped) timer = setTimeout(loop, wait);
      });
  }

  return {
    runOnce,
    start: loop,
    async close() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

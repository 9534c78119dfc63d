import type { Queue } from 'bullmq';
import {
  countSkippedDeliveries,
  enqueueJobs,
  JOB_PAYLOAD_VERSION,
  laneQueueName,
  MAX_DELIVERIES_PER_JOB,
  planJobs,
  resolveAddresses,
  signUnsubscribeToken,
  type Logger,
  type PlannedJob,
  type RecipientProfile,
  type PendingJob,
  type RetryConfig,
  type DeliveriesCounter,
} from '@herald/core';
import {
  CampaignNotRunningError,
  hasUnconfirmedPage,
  insertCampaignBatch,
  releaseCampaignPage,
  selectAudiencePage,
  withCampaignToExpand,
  type FanoutCampaign,
  type NewDelivery,
} from '@herald/db';
import type pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { CAMPAIGN_JOB_DEDUPE_MS } from './campaign-page-relay';

const NO_DATA = Object.freeze({});

export interface CampaignFanoutOptions {
  /** Recipients read per batch (keyset pagination). */
  pageSize?: number;
  /**
   * Campaign-lane jobs (each up to 50 deliveries) allowed to wait per channel
   * before the fan-out holds back: a million recipients never sit in Redis at once.
   */
  windowJobs?: number;
  /**
   * How long a page's outbox row is left to the fan-out's own enqueue before
   * the relay may take it (the enqueue failed, or this process died).
   */
  enqueueLeaseMs?: number;
}

/** A throttled campaign's jobs carry about a tenth of a second's sends each: pacing that fine. */
export function pacedJobSize(perSecond: number): number {
  return Math.min(MAX_DELIVERIES_PER_JOB, Math.max(1, Math.floor(perSecond / 10)));
}

export interface CampaignLinks {
  publicUrl: string;
  /** Signs List-Unsubscribe links; without it campaign emails carry none. */
  unsubscribeSecret?: string;
}

/**
 * Expands running campaigns into deliveries, a page of recipients at a time,
 * while the campaign lanes have room; honours preferences, unreachable
 * addresses and throttle.perSecond (jobs are paced with delays).
 */
export function createCampaignFanout(deps: {
  pool: pg.Pool;
  queues: Map<string, Queue>;
  retry: RetryConfig;
  links: CampaignLinks;
  log: Logger;
  /** herald_deliveries_total: deliveries created `skipped` (opted out, no address) count here. */
  deliveries?: DeliveriesCounter;
  options?: CampaignFanoutOptions;
}) {
  const pageSize = deps.options?.pageSize ?? 1000;
  const windowJobs = deps.options?.windowJobs ?? 400;
  const enqueueLeaseMs = deps.options?.enqueueLeaseMs ?? 10_000;

  async function backlogFull(campaign: FanoutCampaign): Promise<boolean> {
    const depths = await Promise.all(
      campaign.channels.map((channel) =>
        deps.queues
          .get(laneQueueName(channel, 'campaign'))!
          .getJobCounts('waiting', 'delayed', 'prioritized'),
      ),
    );
    return depths.some(
      (c) => (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) >= windowJobs,
    );
  }

  function plan(campaign: FanoutCampaign, page: RecipientProfile[]) {
    const deliveries: (NewDelivery & { recipientId: string })[] = [];
    const outbox: PendingJob[] = [];
    const acceptedAt = Date.now();
    // One template reference per locale: members alike share it in their batch job (batchJobData).
    const templates = new Map<string | undefined, { key: string; locale?: string }>();
    const templateIn = (key: string, locale: string | undefined) => {
      let template = templates.get(locale);
      if (!template) templates.set(locale, (template = locale ? { key, locale } : { key }));
      return template;
    };
    for (const recipient of page) {
      campaign.channels.forEach((channel, position) => {
        const addresses = resolveAddresses(channel, { recipient, category: campaign.category });
        if ('skip' in addresses) {
          deliveries.push({
            id: uuidv7(),
            recipientId: recipient.id,
            channel,
            lane: 'campaign',
            position,
            status: 'skipped',
            reason: addresses.skip,
          });
          return;
        }
        for (const to of addresses) {
          const id = uuidv7();
          deliveries.push({
            id,
            recipientId: recipient.id,
            channel,
            lane: 'campaign',
            position,
            status: 'queued',
          });
          const unsubscribeUrl =
            channel === 'email' && deps.links.unsubscribeSecret
              ? `${deps.links.publicUrl}/u/${signUnsubscribeToken(deps.links.unsubscribeSecret, { recipientId: recipient.id, category: campaign.category })}`
              : undefined;
          // Set field by field: spreading conditional parts into a literal
          // costs V8 a microsecond or more each, per delivery.
          const payload: Record<string, unknown> = {
            v: JOB_PAYLOAD_VERSION,
            deliveryId: id,
            notificationId: campaign.notificationId,
            campaignId: campaign.id,
            recipientId: recipient.id,
            lane: 'campaign',
            acceptedAt,
            channel,
            to,
          };
          if (campaign.throttlePerSecond) payload.throttlePerSecond = campaign.throttlePerSecond;
          if (campaign.templateKey) {
            payload.template = templateIn(campaign.templateKey, recipient.locale ?? undefined);
            // The campaign's one object for every member, so a job stores it once
            // (batchJobData's `shared`); the worker adds `recipient` as it renders.
            payload.data = campaign.data ?? NO_DATA;
          } else payload.content = campaign.content?.[channel];
          if (unsubscribeUrl) payload.unsubscribeUrl = unsubscribeUrl;
          outbox.push({ deliveryId: id, queue: laneQueueName(channel, 'campaign'), payload });
        }
      });
    }
    return { deliveries, outbox };
  }

  /**
   * Spreads jobs over time so the campaign sends at most perSecond. The
   * outbox keeps each job's time: should the enqueue fail, the relay sends
   * them paced too, not all at once.
   */
  function pace(jobs: PlannedJob[], campaign: FanoutCampaign, now: number): Date | undefined {
    if (!campaign.throttlePerSecond) return campaign.pacedUntil;
    let at = Math.max(now, campaign.pacedUntil?.getTime() ?? 0);
    for (const job of jobs) {
      job.delayMs = at - now;
      at += (job.deliveryIds.length / campaign.throttlePerSecond) * 1000;
    }
    return new Date(at);
  }

  return {
    /**
     * Expands one page of one campaign; resolves with the number of
     * deliveries created (0: nothing to do, or every lane is full).
     */
    async runOnce(): Promise<number> {
      const held: string[] = [];
      for (;;) {
        const result = await withCampaignToExpand(deps.pool, held, async (client, campaign) => {
          // A page not yet in Redis (its enqueue failed) holds the campaign, as a full lane does.
          if ((await hasUnconfirmedPage(client, campaign.id)) || (await backlogFull(campaign)))
            return { campaignId: campaign.id, full: true as const };
          const page = await selectAudiencePage(
            client,
            campaign.audience,
            campaign.cursor,
            pageSize,
          );
          const { deliveries, outbox } = plan(campaign, page);
          const perSecond = campaign.throttlePerSecond;
          const due = planJobs(outbox, perSecond ? pacedJobSize(perSecond) : undefined);
          const now = Date.now();
          const pacedUntil = pace(due, campaign, now);
          const outboxId = await insertCampaignBatch(client, {
            campaignId: campaign.id,
            notificationId: campaign.notificationId,
            deliveries,
            jobs: due.map((job) => ({
              jobId: job.jobId,
              queue: job.queue,
              at: now + (job.delayMs ?? 0),
              deliveryIds: job.deliveryIds,
              data: job.data,
            })),
            cursor: page.at(-1)?.id ?? campaign.cursor,
            pacedUntil,
            expanded: page.length < pageSize,
            claimMs: enqueueLeaseMs,
          });
          return { campaignId: campaign.id, full: false as const, due, deliveries, outboxId };
        }).catch((err: unknown) => {
          // Paused or cancelled while this batch was planned: rolled back, try another campaign.
          if (err instanceof CampaignNotRunningError)
            return { campaignId: err.campaignId, full: true as const };
          throw err;
        });
        if (!result) return 0;
        if (result.full) {
          held.push(result.campaignId); // try another campaign, one whose lanes have room
          continue;
        }
        // Committed: now to Redis. What fails here stays in the outbox for the relay.
        if (deps.deliveries) countSkippedDeliveries(deps.deliveries, result.deliveries);
        const { failed } = await enqueueJobs(
          deps.queues,
          result.due.map((job) => ({ ...job, dedupeForMs: CAMPAIGN_JOB_DEDUPE_MS })),
          deps.retry,
          10_000,
        );
        for (const f of failed)
          deps.log.warn(
            { err: f.error, queue: f.queue },
            'fan-out enqueue failed; the relay will retry',
          );
        // The page's row goes only once every job is in Redis; otherwise the
        // relay enqueues it again (jobs already there are not added twice).
        if (failed.length === 0 && result.outboxId)
          await releaseCampaignPage(deps.pool, result.outboxId);
        return result.deliveries.length;
      }
    },
  };
}

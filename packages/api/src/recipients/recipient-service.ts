import {
  eraseRecipient,
  getRecipientView,
  putPushSubscription,
  putRecipient,
  removePushSubscription,
  type Database,
  type ErasureResult,
  type PushSubscriptionView,
  type RecipientProfile,
  type RecipientView,
} from '@herald/db';
import type { Queue } from 'bullmq';
import { v7 as uuidv7 } from 'uuid';
import { laneQueueName, markDeliveriesCancelled, type Channel, type Redis } from '@herald/core';
import { ProblemError } from '../problem';
import type { PushSubscriptionRequest, RecipientProfileRequest } from './recipient-request';

/** PUT replaces the profile: whatever the request leaves out is cleared. */
export function profileFromRequest(body: RecipientProfileRequest): RecipientProfile {
  return {
    email: body.email ?? null,
    telegramChatId: body.telegramChatId ?? null,
    webhookUrl: body.webhookUrl ?? null,
    locale: body.locale ?? null,
    timezone: body.timezone ?? null,
    tags: body.tags ?? [],
    preferences: {
      channels: body.preferences?.channels ?? {},
      categories: body.preferences?.categories ?? {},
    },
  };
}

/**
 * Stored recipients: their profile, their browsers' push subscriptions, and
 * erasure. Methods answer undefined (or false) for an unknown recipient.
 */
export function createRecipientService(deps: {
  db: Database;
  /** Jobs already in Redis for an erased recipient are stopped with cancellation markers. */
  redis?: Redis;
  prefix?: string;
  /** Lane queues: an erased recipient's waiting jobs (they carry its addresses) are removed. */
  queues?: Map<string, Queue>;
  /** Dead-letter queues: so are its dead letters. */
  deadLetterQueues?: Map<Channel, Queue>;
  newId?: () => string;
}) {
  const newId = deps.newId ?? uuidv7;
  const { pool } = deps.db;

  /**
   * Removes what Redis holds for an erased recipient: markers stop its jobs
   * already taken or travelling in batches, its waiting single jobs and its
   * dead letters (both carry its addresses) are deleted. Rejects if Redis
   * cannot be reached.
   */
  async function forgetRedisCopies(erased: ErasureResult): Promise<void> {
    const cancelled = erased.cancelledDeliveries;
    if (deps.redis && deps.prefix !== undefined) {
      await markDeliveriesCancelled(
        deps.redis,
        deps.prefix,
        cancelled.map((d) => d.id),
      );
    }
    await Promise.all([
      // A single job is stored under its delivery id.
      ...cancelled.map(async (d) => {
        await deps.queues?.get(laneQueueName(d.channel, d.lane))?.remove(d.id);
      }),
      // A dead letter too (0 when it was redriven or deleted already).
      ...erased.failedDeliveries.map(async (d) => {
        await deps.deadLetterQueues?.get(d.channel)?.remove(d.id);
      }),
    ]);
  }

  return {
    get(id: string): Promise<RecipientView | undefined> {
      return getRecipientView(pool, id);
    },

    replace(
      id: string,
      body: RecipientProfileRequest,
    ): Promise<{ created: boolean; recipient: RecipientView }> {
      return putRecipient(pool, id, profileFromRequest(body));
    },

    /**
     * Right to erasure: personal data goes, anonymised delivery counts stay.
     * What Redis holds for the recipient goes within the same transaction
     * (before its commit): if Redis cannot be reached, nothing is erased and
     * the answer is a 503 to retry.
     */
    erase(id: string, actor: string): Promise<ErasureResult | undefined> {
      return eraseRecipient(pool, id, actor, (erased) =>
        forgetRedisCopies(erased).catch(() => {
          // Thrown before the commit: the transaction rolls back.
          throw new ProblemError(
            503,
            'Service unavailable',
            `Redis could not be reached to remove the jobs and dead letters of recipient ${id}; ` +
              'nothing was erased. Retry later.',
            { headers: { 'Retry-After': '5' } },
          );
        }),
      );
    },

    addPushSubscription(
      id: string,
      subscription: PushSubscriptionRequest,
    ): Promise<PushSubscriptionView | undefined> {
      return putPushSubscription(pool, id, {
        id: newId(),
        endpoint: subscription.endpoint,
        p256dh: subscription.keys.p256dh,
        auth: subscription.keys.auth,
      });
    },

    removePushSubscription(id: string, endpoint: string): Promise<boolean> {
      return removePushSubscription(pool, id, endpoint);
    },
  };
}

export type RecipientService = ReturnType<typeof createRecipientService>;

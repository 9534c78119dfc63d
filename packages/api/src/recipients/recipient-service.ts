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
import { v7 as uuidv7 } from 'uuid';
import { markDeliveriesCancelled, type Redis } from '@herald/core';
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
  newId?: () => string;
}) {
  const newId = deps.newId ?? uuidv7;
  const { pool } = deps.db;

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

    /** Right to erasure: personal data goes, anonymised delivery counts stay. */
    async erase(id: string, actor: string): Promise<ErasureResult | undefined> {
      const erased = await eraseRecipient(pool, id, actor);
      if (erased && deps.redis && deps.prefix !== undefined) {
        await markDeliveriesCancelled(deps.redis, deps.prefix, erased.cancelledDeliveryIds);
      }
      return erased;
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

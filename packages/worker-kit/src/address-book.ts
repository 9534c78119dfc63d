import type { DeliveryErrorCode, DeliveryJob, Logger } from '@herald/core';
import { deletePushSubscription, markAddressUnreachable, moveTelegramChatId } from '@herald/db';
import type pg from 'pg';

/**
 * What a provider's answer teaches us about an address, written back to the
 * recipient so later notifications skip it (or use the new one).
 */
export function createAddressBook(deps: { pool: pg.Pool; log: Logger }) {
  return {
    async learnFromFailure(
      job: DeliveryJob,
      code: DeliveryErrorCode,
      message: string,
    ): Promise<void> {
      try {
        if (code === 'subscription_gone' && job.channel === 'push') {
          await deletePushSubscription(deps.pool, job.to.subscription.endpoint);
        } else if (
          (code === 'recipient_blocked' || code === 'recipient_not_found') &&
          job.recipientId
        ) {
          await markAddressUnreachable(
            deps.pool,
            job.recipientId,
            job.channel,
            `${code}: ${message}`.slice(0, 300),
          );
        }
      } catch (err) {
        deps.log.error({ err, deliveryId: job.deliveryId }, 'could not update the address book');
      }
    },

    async learnFromSuccess(
      job: DeliveryJob,
      movedTo: { telegramChatId: string } | undefined,
    ): Promise<void> {
      if (!movedTo || job.channel !== 'telegram' || !job.recipientId) return;
      try {
        await moveTelegramChatId(deps.pool, job.recipientId, job.to.chatId, movedTo.telegramChatId);
      } catch (err) {
        deps.log.error({ err, deliveryId: job.deliveryId }, 'could not store the migrated chat id');
      }
    },
  };
}

export type AddressBook = ReturnType<typeof createAddressBook>;

import { z } from 'zod';
import {
  emailAddressSchema,
  emailContentSchema,
  pushContentSchema,
  pushSubscriptionSchema,
  telegramChatIdSchema,
  telegramContentSchema,
  webhookContentSchema,
  webhookUrlSchema,
} from './content';
import { LANES, type Channel } from './topology';

/**
 * The delivery job: everything a worker needs to send one message without a
 * database round trip. Jobs outlive deploys, so payloads carry a schema
 * version and are parsed when dequeued. Never put secrets here.
 */
export const JOB_PAYLOAD_VERSION = 1;

const jobCommon = {
  v: z.literal(JOB_PAYLOAD_VERSION),
  deliveryId: z.uuid(),
  notificationId: z.uuid(),
  campaignId: z.uuid().optional(),
  recipientId: z.string().optional(),
  lane: z.enum(LANES),
  /** Epoch ms when the gateway accepted the notification (for end-to-end latency). */
  acceptedAt: z.number().int().nonnegative(),
  /**
   * strategy "fallback": the jobs to try, in order, if this one fails for good.
   * Each is a delivery job of its own (parsed when its turn comes).
   */
  fallback: z
    .array(z.looseObject({ deliveryId: z.uuid(), channel: z.string() }))
    .max(8)
    .optional(),
};

export const emailJobSchema = z.object({
  ...jobCommon,
  channel: z.literal('email'),
  to: z.object({ email: emailAddressSchema }),
  content: emailContentSchema,
});

export const telegramJobSchema = z.object({
  ...jobCommon,
  channel: z.literal('telegram'),
  to: z.object({ chatId: telegramChatIdSchema }),
  content: telegramContentSchema,
});

export const pushJobSchema = z.object({
  ...jobCommon,
  channel: z.literal('push'),
  to: z.object({ subscription: pushSubscriptionSchema }),
  content: pushContentSchema,
});

export const webhookJobSchema = z.object({
  ...jobCommon,
  channel: z.literal('webhook'),
  to: z.object({ url: webhookUrlSchema }),
  content: webhookContentSchema,
});

export const deliveryJobSchema = z.discriminatedUnion('channel', [
  emailJobSchema,
  telegramJobSchema,
  pushJobSchema,
  webhookJobSchema,
]);

export type DeliveryJob = z.infer<typeof deliveryJobSchema>;
export type DeliveryJobFor<C extends Channel> = Extract<DeliveryJob, { channel: C }>;
export type EmailJob = DeliveryJobFor<'email'>;

/** Parses a dequeued payload for a channel's worker; throws a ZodError when it does not fit. */
export function parseDeliveryJob<C extends Channel>(channel: C, data: unknown): DeliveryJobFor<C> {
  const job = deliveryJobSchema.parse(data);
  if (job.channel !== channel) {
    throw new Error(`job for channel ${job.channel} arrived on a ${channel} queue`);
  }
  return job as DeliveryJobFor<C>;
}

import { z } from 'zod';
import {
  CHANNELS,
  LANES,
  emailAddressSchema,
  emailContentSchema,
  pushContentSchema,
  pushSubscriptionSchema,
  telegramChatIdSchema,
  telegramContentSchema,
  webhookContentSchema,
  webhookUrlSchema,
} from '@herald/core';

export const recipientIdSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\w.@:+-]+$/, 'letters, digits and _ . @ : + - only');

/** Either a stored recipient or inline addresses, never both. */
export const notificationTargetSchema = z
  .object({
    recipientId: recipientIdSchema.optional(),
    email: emailAddressSchema.optional(),
    telegramChatId: telegramChatIdSchema.optional(),
    pushSubscription: pushSubscriptionSchema.optional(),
    webhookUrl: webhookUrlSchema.optional(),
  })
  .strict()
  .superRefine((to, ctx) => {
    const inline = [to.email, to.telegramChatId, to.pushSubscription, to.webhookUrl].some(
      (v) => v !== undefined,
    );
    if (to.recipientId !== undefined && inline) {
      ctx.addIssue({
        code: 'custom',
        path: ['recipientId'],
        message: 'use recipientId or inline addresses, not both',
      });
    }
    if (to.recipientId === undefined && !inline) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: 'needs recipientId or at least one address',
      });
    }
  });
export type NotificationTarget = z.infer<typeof notificationTargetSchema>;

export const inlineContentSchema = z
  .object({
    email: emailContentSchema.optional(),
    telegram: telegramContentSchema.optional(),
    push: pushContentSchema.optional(),
    webhook: webhookContentSchema.optional(),
  })
  .strict();

const jsonObject = z.record(z.string(), z.json());

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isChannel = (value: unknown): value is (typeof CHANNELS)[number] =>
  (CHANNELS as readonly unknown[]).includes(value);

export const notificationRequestSchema = z
  .object({
    to: notificationTargetSchema,
    channels: z
      .array(z.enum(CHANNELS))
      .min(1)
      .refine((list) => new Set(list).size === list.length, 'channels must not repeat'),
    strategy: z.enum(['all', 'fallback']).default('all'),
    template: z.string().min(1).max(200).optional(),
    content: inlineContentSchema.optional(),
    data: jsonObject.optional(),
    lane: z.enum(LANES).default('transactional'),
    sendAt: z.iso.datetime({ offset: true }).optional(),
    metadata: jsonObject.optional(),
    /** Preference category (e.g. "marketing"); recipients can opt out per category. */
    category: z.string().min(1).max(100).optional(),
  })
  .strict()
  .superRefine(
    (body, ctx) => {
      if ((body.template === undefined) === (body.content === undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['content'],
          message: 'give either template or content',
        });
      }
      // This also runs when other fields failed (so every bad field is named at
      // once): `channels` and `content` may then be raw input, hence the guards.
      const content: unknown = body.content;
      const channels: unknown = body.channels;
      if (isObject(content) && Array.isArray(channels)) {
        for (const channel of new Set(channels)) {
          if (!isChannel(channel) || content[channel] !== undefined) continue;
          ctx.addIssue({
            code: 'custom',
            path: ['content', channel],
            message: `content for ${channel} is required`,
          });
        }
      }
    },
    { when: (payload) => isObject(payload.value) },
  );

export type NotificationRequest = z.infer<typeof notificationRequestSchema>;

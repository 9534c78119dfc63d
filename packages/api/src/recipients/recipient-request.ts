import { z } from 'zod';
import { DELIVERY_STATUSES } from '@herald/db';
import {
  CHANNELS,
  emailAddressSchema,
  pushSubscriptionSchema,
  telegramChatIdSchema,
  webhookUrlSchema,
} from '@herald/core';
import { recipientIdSchema, UUID } from '../notifications/notification-request';

/** Tags and preference categories: short names, safe in URLs and logs. */
const NAME = /^[\w.-]{1,64}$/;
const NAME_RULE = '1 to 64 letters, digits, _ . or -';
export const MAX_TAGS = 50;
export const MAX_CATEGORIES = 100;

/** A BCP 47 language tag (`fr`, `pt-BR`), stored in its canonical case. */
export const localeSchema = z
  .string()
  .max(35)
  .regex(/^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/, 'a BCP 47 language tag such as fr or pt-BR')
  .transform((tag, ctx) => {
    try {
      return Intl.getCanonicalLocales(tag)[0] ?? tag;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not a valid BCP 47 language tag' });
      return z.NEVER;
    }
  });

/** An IANA time zone (`Europe/Paris`), as the runtime knows it, stored in its canonical case. */
export const timeZoneSchema = z
  .string()
  .min(1)
  .max(64)
  .transform((zone, ctx) => {
    try {
      return new Intl.DateTimeFormat(undefined, { timeZone: zone }).resolvedOptions().timeZone;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not an IANA time zone such as Europe/Paris' });
      return z.NEVER;
    }
  });

const tagsSchema = z
  .array(z.string().regex(NAME, NAME_RULE))
  .max(MAX_TAGS)
  .transform((tags) => [...new Set(tags)]);

const preferencesSchema = z
  .object({
    channels: z
      .object({
        email: z.boolean().optional(),
        telegram: z.boolean().optional(),
        push: z.boolean().optional(),
        webhook: z.boolean().optional(),
      })
      .strict()
      .optional(),
    categories: z
      .record(z.string().regex(NAME, NAME_RULE), z.boolean())
      .refine(
        (c) => Object.keys(c).length <= MAX_CATEGORIES,
        `at most ${MAX_CATEGORIES} categories`,
      )
      .optional(),
  })
  .strict();

/**
 * The body of PUT /v1/recipients/:id: the whole profile. Omitted (or null)
 * fields are cleared; push subscriptions have their own endpoints.
 */
export const recipientProfileSchema = z
  .object({
    email: emailAddressSchema.nullable().optional(),
    telegramChatId: telegramChatIdSchema.nullable().optional(),
    webhookUrl: webhookUrlSchema.nullable().optional(),
    locale: localeSchema.nullable().optional(),
    timezone: timeZoneSchema.nullable().optional(),
    tags: tagsSchema.optional(),
    preferences: preferencesSchema.optional(),
  })
  .strict();
export type RecipientProfileRequest = z.infer<typeof recipientProfileSchema>;

/** What `PushSubscription.toJSON()` gives in a browser (`expirationTime` is accepted and ignored). */
export const pushSubscriptionRequestSchema = pushSubscriptionSchema
  .extend({ expirationTime: z.number().nullable().optional() })
  .strict();
export type PushSubscriptionRequest = z.infer<typeof pushSubscriptionRequestSchema>;

export const pushSubscriptionQuerySchema = z.object({
  endpoint: z.string().min(1).max(2048),
});

/** GET /v1/recipients/:id/deliveries: newest first, keyset pages. */
export const recipientDeliveriesQuerySchema = z.object({
  status: z.enum(DELIVERY_STATUSES).optional(),
  channel: z.enum(CHANNELS).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: z.string().regex(UUID, "a delivery id: the previous page's next").optional(),
});

/** GET /v1/recipients: id order, keyset pages; filters AND-ed, unknown ones refused. */
export const recipientListQuerySchema = z
  .object({
    tag: z.string().regex(NAME, NAME_RULE).optional(),
    email: emailAddressSchema.optional().describe('Matched whatever its case'),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    after: recipientIdSchema.optional().describe("A recipient id: the previous page's next"),
  })
  .strict();

import { z } from 'zod';
import { DELIVERY_STATUSES } from '@herald/db';
import { categorySchema, CHANNELS } from '@herald/core';
import { inlineContentSchema, recipientIdSchema } from '../notifications/notification-request';
import { UUID } from '../notifications/notification-request';

/** Inline audiences are capped; larger ones are a tag or everyone. */
export const MAX_INLINE_AUDIENCE = 100_000;

const audienceSchema = z.union(
  [
    z.object({ recipientIds: z.array(recipientIdSchema).min(1).max(MAX_INLINE_AUDIENCE) }).strict(),
    z
      .object({
        tag: z.string().regex(/^[\w.-]{1,64}$/, 'a tag: 1 to 64 letters, digits, _ . or -'),
      })
      .strict(),
    z.object({ all: z.literal(true) }).strict(),
  ],
  { error: 'one of {"recipientIds": [...]}, {"tag": "..."} or {"all": true}' },
);

export const campaignRequestSchema = z
  .object({
    name: z.string().min(1).max(200),
    template: z.string().min(1).max(200).optional(),
    content: inlineContentSchema.optional(),
    channels: z
      .array(z.enum(CHANNELS))
      .min(1)
      .refine((list) => new Set(list).size === list.length, 'channels must not repeat'),
    audience: audienceSchema,
    data: z.record(z.string(), z.json()).optional(),
    sendAt: z.iso.datetime({ offset: true }).optional(),
    throttle: z
      .object({ perSecond: z.number().int().min(1).max(100_000) })
      .strict()
      .optional(),
    /** Preference category recipients can unsubscribe from. */
    category: categorySchema.optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    if ((body.template === undefined) === (body.content === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['content'],
        message: 'give either template or content',
      });
    }
    for (const channel of body.content ? body.channels : []) {
      if (body.content?.[channel] === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['content', channel],
          message: `content for ${channel} is required`,
        });
      }
    }
  });

export type CampaignRequest = z.infer<typeof campaignRequestSchema>;

export const CAMPAIGN_STATUSES = [
  'scheduled',
  'running',
  'paused',
  'completed',
  'cancelled',
] as const;

/** GET /v1/campaigns: newest first, keyset pages. */
/** GET /v1/campaigns/:id/deliveries: newest first, keyset pages; unknown parameters refused. */
export const campaignDeliveriesQuerySchema = z
  .object({
    status: z.enum(DELIVERY_STATUSES).optional(),
    channel: z.enum(CHANNELS).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    before: z
      .string()
      .regex(UUID, "a delivery id: the previous page's next")
      .optional()
      .describe("A delivery id: the previous page's next"),
  })
  .strict();

export const campaignListQuerySchema = z.object({
  status: z.enum(CAMPAIGN_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: z.string().regex(UUID, "a campaign id: the previous page's next").optional(),
});

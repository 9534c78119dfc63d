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
import { DELIVERY_STATUSES } from '@herald/db';
import { namedParameters } from '../query-parameters';

/** A UUID, as every id Herald makes is. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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

/** Metadata filters a list takes at once. */
export const MAX_METADATA_FILTERS = 10;

/** A text filter: Postgres text holds no NUL, so no stored value has one. */
const filterText = (max: number) =>
  z
    .string()
    .max(max)
    .refine((text) => !text.includes('\u0000'), 'no NUL characters');

/**
 * GET /v1/notifications: newest first, keyset pages, filters AND-ed. Strict,
 * so a misspelt filter is a 422 rather than a silently unfiltered list.
 * `metadata` arrives as `metadata[key]=value` (OpenAPI's deepObject style).
 */
export const notificationListQuerySchema = z
  .object({
    owner: filterText(200).min(1).optional().describe('Sent with a token of this `sub`'),
    status: z.enum(DELIVERY_STATUSES).optional(),
    channel: z.enum(CHANNELS).optional(),
    lane: z.enum(LANES).optional(),
    category: filterText(100).min(1).optional(),
    recipientId: recipientIdSchema.optional(),
    template: filterText(200).min(1).optional(),
    metadata: z
      .record(filterText(100).min(1), filterText(500))
      .refine(
        (m) => Object.keys(m).length <= MAX_METADATA_FILTERS,
        `at most ${MAX_METADATA_FILTERS} metadata filters`,
      )
      .optional()
      .describe('Top-level metadata values to match, compared as text: metadata[orderId]=A-1'),
    since: z.iso.datetime({ offset: true }).optional().describe('Accepted at or after this moment'),
    until: z.iso.datetime({ offset: true }).optional().describe('Accepted before this moment'),
    limit: z.coerce.number().int().min(1).max(100).default(50),
    before: z.string().regex(UUID, "a notification id: the previous page's next").optional(),
  })
  .strict()
  .refine((q) => !q.since || !q.until || Date.parse(q.since) < Date.parse(q.until), {
    path: ['until'],
    message: 'until must be after since',
  });

/**
 * Express gives `metadata[orderId]=A-1` as a key of its own: gathers such
 * keys into one `metadata` object for the schema (a repeated or empty key
 * stays as it came, for the schema to name).
 */
export function gatherMetadataFilters(query: Record<string, unknown>): Record<string, unknown> {
  const gathered: Record<string, unknown> = {};
  const metadata: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(namedParameters(query))) {
    const match = /^metadata\[(.*)\]$/.exec(key);
    if (match) metadata[match[1]!] = value;
    else gathered[key] = value;
  }
  if (Object.keys(metadata).length > 0) gathered.metadata = metadata;
  return gathered;
}

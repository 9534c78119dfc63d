import { z } from 'zod';
import { CHANNELS, LANES } from '@herald/core';
import {
  DELIVERY_STATUSES,
  type DeliveryStatus,
  type NotificationSummary,
  type NotificationView,
} from '@herald/db';
import type { AcceptedResponse } from '../notifications/plan-notification';
import { problemSchema } from './problem-responses';

/** Response bodies of the notification operations, each checked against the type the code returns. */

export const deliveryStatusSchema = z.enum(DELIVERY_STATUSES) satisfies z.ZodType<DeliveryStatus>;

/** 202 of POST /v1/notifications (plan-notification.ts's AcceptedResponse). */
export const acceptedNotificationSchema = z.object({
  id: z.uuid(),
  status: deliveryStatusSchema.describe('`queued`, or `scheduled` when sendAt is in the future'),
  deliveries: z.array(
    z.object({
      id: z.uuid(),
      channel: z.enum(CHANNELS),
      status: deliveryStatusSchema,
      reason: z.string().optional().describe('Why a delivery was skipped'),
    }),
  ),
}) satisfies z.ZodType<AcceptedResponse>;

const attemptSchema = z.object({
  attempt: z.int().min(1),
  at: z.iso.datetime(),
  outcome: z.enum(['sent', 'transient_error', 'permanent_error', 'rate_limited']),
  errorCode: z.string().optional(),
  error: z.string().optional(),
  providerMessageId: z.string().optional(),
  durationMs: z.number().min(0),
});

/** A delivery as every view shows it (its attempts apart). */
export const deliverySummarySchema = z.object({
  id: z.uuid(),
  channel: z.enum(CHANNELS),
  lane: z.enum(LANES),
  status: deliveryStatusSchema,
  reason: z.string().optional(),
  attemptsCount: z.int().min(0),
  providerMessageId: z.string().optional(),
  queuedAt: z.iso.datetime().optional(),
  sentAt: z.iso.datetime().optional(),
  updatedAt: z.iso.datetime(),
});

/** GET /v1/notifications/:id (notification-view.ts's NotificationView). */
export const notificationViewSchema = z.object({
  id: z.uuid(),
  owner: z.string().describe('The `sub` of the token that sent it'),
  status: deliveryStatusSchema.describe("A summary of its deliveries' statuses"),
  lane: z.enum(LANES),
  strategy: z.enum(['all', 'fallback']),
  channels: z.array(z.enum(CHANNELS)),
  recipientId: z.string().optional(),
  campaignId: z.uuid().optional(),
  templateKey: z.string().optional(),
  metadata: z.json().optional(),
  createdAt: z.iso.datetime(),
  sendAt: z.iso.datetime().optional(),
  dispatchedAt: z.iso.datetime().optional(),
  cancelledAt: z.iso.datetime().optional(),
  deliveries: z.array(deliverySummarySchema.extend({ attempts: z.array(attemptSchema) })),
}) satisfies z.ZodType<NotificationView>;

/** GET /v1/notifications: one page (notification-list.ts's NotificationSummary). */
export const notificationPageSchema = z.object({
  items: z.array(
    notificationViewSchema.omit({ deliveries: true, campaignId: true }).extend({
      category: z.string().optional(),
      deliveries: z.array(deliverySummarySchema),
    }) satisfies z.ZodType<NotificationSummary>,
  ),
  next: z
    .uuid()
    .optional()
    .describe(
      'The `before` of the next page; absent once nothing older can match. A filtered page ' +
        'looks through at most 5,000 notifications, so it may hold fewer than `limit` (even ' +
        'none) and still have a `next`.',
    ),
});

export const cancelledNotificationSchema = notificationViewSchema.extend({
  cancelled: z.array(z.uuid()).describe('The deliveries this call cancelled'),
});

export const batchResultSchema = z.object({
  accepted: z.int().min(0),
  rejected: z.int().min(0),
  items: z.array(
    z.union([
      acceptedNotificationSchema.extend({ index: z.int().min(0) }),
      z.object({ index: z.int().min(0), error: problemSchema }),
    ]),
  ),
});

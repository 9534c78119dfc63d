import { z } from 'zod';
import type {
  PushSubscriptionView,
  RecipientDelivery,
  RecipientSummary,
  RecipientView,
} from '@herald/db';
import { recipientIdSchema } from '../notifications/notification-request';
import {
  pushSubscriptionQuerySchema,
  pushSubscriptionRequestSchema,
  recipientDeliveriesQuerySchema,
  recipientListQuerySchema,
  recipientProfileSchema,
} from '../recipients/recipient-request';
import { deliverySummarySchema } from './notification-responses';
import { ids, RECIPIENT_ID, recipientProfileExample, recipientViewExample } from './examples';
import { BEARER_ERRORS, JSON_BODY_ERRORS, type OperationSpec } from './operation-spec';

export const pushSubscriptionViewSchema = z.object({
  id: z.uuid(),
  endpoint: z.url(),
  createdAt: z.iso.datetime(),
  lastUsedAt: z.iso.datetime().optional(),
}) satisfies z.ZodType<PushSubscriptionView>;

/** GET /v1/recipients/:id/deliveries: one page (delivery-history.ts's RecipientDelivery). */
export const recipientDeliveryPageSchema = z.object({
  items: z.array(
    deliverySummarySchema.extend({
      notificationId: z.uuid(),
      campaignId: z.uuid().optional(),
      createdAt: z.iso.datetime(),
    }) satisfies z.ZodType<RecipientDelivery>,
  ),
  next: z.uuid().optional().describe('The `before` of the next page; absent on the last page'),
});

/** A stored recipient (recipient-admin.ts's RecipientView); push keys are never shown. */
export const recipientViewSchema = z.object({
  id: z.string(),
  email: z.string().nullable(),
  telegramChatId: z.string().nullable(),
  webhookUrl: z.string().nullable(),
  locale: z.string().nullable(),
  timezone: z.string().nullable(),
  tags: z.array(z.string()),
  preferences: z.object({
    channels: z.object({
      email: z.boolean().optional(),
      telegram: z.boolean().optional(),
      push: z.boolean().optional(),
      webhook: z.boolean().optional(),
    }),
    categories: z.record(z.string(), z.boolean()),
  }),
  unreachable: z
    .record(z.string(), z.json())
    .describe('Channels a provider reported unreachable: `{telegram: {at, reason}}`'),
  pushSubscriptions: z.array(pushSubscriptionViewSchema),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
}) satisfies z.ZodType<RecipientView>;

/** GET /v1/recipients: one page (recipient-list.ts's RecipientSummary). */
export const recipientPageSchema = z.object({
  items: z.array(
    recipientViewSchema.omit({ pushSubscriptions: true }) satisfies z.ZodType<RecipientSummary>,
  ),
  next: z.string().optional().describe('The `after` of the next page; absent on the last page'),
});

export const vapidPublicKeySchema = z.object({ publicKey: z.string() });

const recipientId = {
  id: {
    schema: recipientIdSchema,
    description: 'Your id for the person (letters, digits and _ . @ : + -)',
    example: RECIPIENT_ID,
  },
};

const subscriptionExample = {
  endpoint: 'https://fcm.googleapis.com/fcm/send/dGVzdC1zdWJzY3JpcHRpb24tZm9yLXUtNDI',
  keys: {
    p256dh:
      'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM',
    auth: 'tBHItJI5svbpez7KI4CCXg',
  },
  expirationTime: null,
};

const recipientResponse = (description: string) => ({
  description,
  json: {
    component: 'Recipient',
    schema: recipientViewSchema,
    examples: { ada: { summary: 'Ada', value: recipientViewExample } },
  },
});

const { pushSubscriptions: _, ...recipientSummaryExample } = recipientViewExample;

export const recipientOperations: OperationSpec[] = [
  {
    method: 'put',
    path: '/v1/recipients/:id',
    operationId: 'putRecipient',
    tag: 'Recipients',
    summary: 'Create or replace a recipient profile',
    description:
      'The whole profile: fields left out (or null) are cleared. Push subscriptions have their ' +
      'own endpoints and are kept.',
    auth: { bearer: ['recipients:write'] },
    pathParams: recipientId,
    body: {
      component: 'RecipientProfile',
      schema: recipientProfileSchema,
      examples: { ada: { summary: 'Every field', value: recipientProfileExample } },
    },
    responses: {
      200: recipientResponse('Replaced.'),
      201: recipientResponse('Created.'),
    },
    errors: { ...BEARER_ERRORS, ...JSON_BODY_ERRORS },
  },
  {
    method: 'get',
    path: '/v1/recipients',
    operationId: 'listRecipients',
    tag: 'Recipients',
    summary: 'Recipients in id order: those carrying a tag, or the one with an email address',
    description:
      'Profiles without their push subscriptions (GET the recipient for those). `tag` lists a ' +
      "campaign's `{tag}` audience; `email` finds a recipient by its address, whatever its case. " +
      "Pass a page's `next` as `after` for the page after it; the last page has no `next`.",
    auth: { bearer: ['recipients:read'] },
    query: {
      schema: recipientListQuerySchema,
      examples: { tag: 'beta', email: 'ada@example.com', limit: 50, after: 'u-41' },
    },
    responses: {
      200: {
        description: 'One page of recipients.',
        json: {
          component: 'RecipientPage',
          schema: recipientPageSchema,
          examples: {
            beta: {
              summary: 'The beta testers',
              value: {
                items: [recipientSummaryExample],
              },
            },
          },
        },
      },
    },
    errors: { ...BEARER_ERRORS, 422: 'A query parameter is invalid or unknown (each one named).' },
  },
  {
    method: 'get',
    path: '/v1/recipients/:id',
    operationId: 'getRecipient',
    tag: 'Recipients',
    summary: 'A recipient profile',
    auth: { bearer: ['recipients:read'] },
    pathParams: recipientId,
    responses: { 200: recipientResponse('The recipient.') },
    errors: { ...BEARER_ERRORS, 404: true, 422: 'The id is not a valid recipient id.' },
  },
  {
    method: 'get',
    path: '/v1/recipients/:id/deliveries',
    operationId: 'listRecipientDeliveries',
    tag: 'Recipients',
    summary: "A recipient's deliveries, newest first: what was sent, how and when",
    description:
      'Transactional sends and campaigns alike, without their content (GET the notification for ' +
      "its attempts). Pass a page's `next` as `before` for the page after it; the last page has no " +
      '`next`. An erased recipient has no history left.',
    auth: { bearer: ['notifications:read'] },
    pathParams: recipientId,
    query: {
      schema: recipientDeliveriesQuerySchema,
      examples: { status: 'failed', channel: 'email', limit: 50, before: ids.delivery1 },
    },
    responses: {
      200: {
        description: 'One page of deliveries.',
        json: {
          component: 'RecipientDeliveryPage',
          schema: recipientDeliveryPageSchema,
          examples: {
            page: {
              summary: 'A password reset, sent by email',
              value: {
                items: [
                  {
                    id: ids.delivery2,
                    notificationId: ids.notification,
                    channel: 'email',
                    lane: 'transactional',
                    status: 'sent',
                    attemptsCount: 1,
                    providerMessageId: '<0190f5a2-7c3e-7b1a-9d4e-2f6a8b0c1d30@herald>',
                    createdAt: '2026-03-01T09:30:00.000Z',
                    queuedAt: '2026-03-01T09:30:00.002Z',
                    sentAt: '2026-03-01T09:30:00.412Z',
                    updatedAt: '2026-03-01T09:30:00.415Z',
                  },
                ],
              },
            },
          },
        },
      },
    },
    errors: {
      ...BEARER_ERRORS,
      404: true,
      422: 'The id is not a valid recipient id, or a query parameter is invalid (each one named).',
    },
  },
  {
    method: 'delete',
    path: '/v1/recipients/:id',
    operationId: 'eraseRecipient',
    tag: 'Recipients',
    summary: 'Erase a recipient (right to erasure)',
    description:
      'Personal data goes, deliveries not sent yet are cancelled; anonymised delivery counts ' +
      'stay. In Redis, the jobs still waiting for the recipient and the dead letters of its ' +
      'failed deliveries are removed as well.',
    auth: { bearer: ['recipients:write'] },
    pathParams: recipientId,
    responses: { 204: { description: 'Erased.' } },
    errors: {
      ...BEARER_ERRORS,
      404: true,
      422: 'The id is not a valid recipient id.',
      503: 'Postgres or Redis is unreachable: nothing was erased. Retry later.',
    },
  },
  {
    method: 'post',
    path: '/v1/recipients/:id/push-subscriptions',
    operationId: 'addPushSubscription',
    tag: 'Recipients',
    summary: "Add a browser's push subscription (PushSubscription.toJSON())",
    description: 'A push service answering 404 or 410 for a subscription deletes it.',
    auth: { bearer: ['recipients:write'] },
    pathParams: recipientId,
    body: {
      component: 'PushSubscriptionRequest',
      schema: pushSubscriptionRequestSchema,
      examples: { chrome: { summary: 'A Chrome subscription', value: subscriptionExample } },
    },
    responses: {
      201: {
        description: 'Stored (the same endpoint again replaces its keys).',
        json: {
          component: 'PushSubscription',
          schema: pushSubscriptionViewSchema,
          examples: {
            chrome: {
              summary: 'Stored',
              value: {
                id: ids.pushSubscription,
                endpoint: subscriptionExample.endpoint,
                createdAt: '2026-03-01T08:05:00.000Z',
              },
            },
          },
        },
      },
    },
    errors: { ...BEARER_ERRORS, ...JSON_BODY_ERRORS, 404: 'No recipient with this id.' },
  },
  {
    method: 'delete',
    path: '/v1/recipients/:id/push-subscriptions',
    operationId: 'removePushSubscription',
    tag: 'Recipients',
    summary: 'Remove a push subscription by its endpoint',
    auth: { bearer: ['recipients:write'] },
    pathParams: recipientId,
    query: {
      schema: pushSubscriptionQuerySchema,
      examples: { endpoint: subscriptionExample.endpoint },
    },
    responses: { 204: { description: 'Removed.' } },
    errors: { ...BEARER_ERRORS, 404: true, 422: 'The id or the endpoint is not valid.' },
  },
  {
    method: 'get',
    path: '/v1/push/vapid-public-key',
    operationId: 'getVapidPublicKey',
    tag: 'Recipients',
    summary: 'The VAPID public key browsers subscribe with (no auth)',
    auth: 'public',
    responses: {
      200: {
        description: 'The key (applicationServerKey), base64url.',
        json: {
          component: 'VapidPublicKey',
          schema: vapidPublicKeySchema,
          examples: {
            key: {
              summary: 'A P-256 public key',
              value: { publicKey: subscriptionExample.keys.p256dh },
            },
          },
        },
      },
    },
    errors: { 404: 'The push channel is not configured.' },
  },
];

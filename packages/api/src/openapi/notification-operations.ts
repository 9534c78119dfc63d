import { z } from 'zod';
import {
  notificationListQuerySchema,
  notificationRequestSchema,
  UUID,
} from '../notifications/notification-request';
import { batchEnvelopeSchema, IDEMPOTENCY_KEY, MAX_BATCH_ITEMS } from '../routes/notifications';
import { ids, NOTIFICATION_EXAMPLES, TEMPLATE_KEY_EXAMPLE } from './examples';
import {
  acceptedNotificationSchema,
  batchResultSchema,
  cancelledNotificationSchema,
  notificationPageSchema,
  notificationViewSchema,
} from './notification-responses';
import {
  BEARER_ERRORS,
  JSON_BODY_ERRORS,
  type Examples,
  type OperationSpec,
} from './operation-spec';

const notificationId = {
  id: {
    schema: z.string().regex(UUID),
    description: 'The notification id (a UUID)',
    example: ids.notification,
  },
};

const acceptedExamples: Examples = Object.fromEntries(
  Object.entries(NOTIFICATION_EXAMPLES).map(([name, e]) => [
    name,
    { summary: e.summary, value: e.accepted },
  ]),
);

const viewExample = {
  id: ids.notification,
  owner: 'billing-service',
  status: 'sent',
  lane: 'transactional',
  strategy: 'all',
  channels: ['push', 'email'],
  recipientId: 'u-42',
  templateKey: 'password-reset',
  metadata: { orderId: 'A-1' },
  createdAt: '2026-03-02T10:15:00.120Z',
  dispatchedAt: '2026-03-02T10:15:00.131Z',
  deliveries: [
    {
      id: ids.delivery1,
      channel: 'push',
      lane: 'transactional',
      status: 'skipped',
      reason: 'no push subscription',
      attemptsCount: 0,
      updatedAt: '2026-03-02T10:15:00.120Z',
      attempts: [],
    },
    {
      id: ids.delivery2,
      channel: 'email',
      lane: 'transactional',
      status: 'sent',
      attemptsCount: 2,
      providerMessageId: '<0190f5a2.herald@mail.example.com>',
      queuedAt: '2026-03-02T10:15:00.120Z',
      sentAt: '2026-03-02T10:15:01.402Z',
      updatedAt: '2026-03-02T10:15:01.402Z',
      attempts: [
        {
          attempt: 1,
          at: '2026-03-02T10:15:00.410Z',
          outcome: 'transient_error',
          errorCode: 'smtp_unavailable',
          error: '421 4.3.2 Service not available, try again later',
          durationMs: 212,
        },
        {
          attempt: 2,
          at: '2026-03-02T10:15:01.402Z',
          outcome: 'sent',
          providerMessageId: '<0190f5a2.herald@mail.example.com>',
          durationMs: 96,
        },
      ],
    },
  ],
};

const { dispatchedAt: _notYet, ...scheduledView } = viewExample;
const cancelledExample = {
  ...scheduledView,
  status: 'cancelled',
  channels: ['email'],
  sendAt: '2030-01-15T09:00:00.000Z',
  cancelledAt: '2026-03-02T10:20:00.000Z',
  deliveries: [
    {
      id: ids.delivery2,
      channel: 'email',
      lane: 'transactional',
      status: 'cancelled',
      reason: 'cancelled by billing',
      attemptsCount: 0,
      updatedAt: '2026-03-02T10:20:00.000Z',
      attempts: [],
    },
  ],
  cancelled: [ids.delivery2],
};

export const notificationOperations: OperationSpec[] = [
  {
    method: 'post',
    path: '/v1/notifications',
    operationId: 'sendNotification',
    tag: 'Notifications',
    summary: 'Send one notification (now or at sendAt)',
    description:
      'Content is a stored `template` or inline `content` per channel. A channel with no address, ' +
      'or one the recipient opted out of, gives a `skipped` delivery with a reason, not an error. ' +
      'The same `Idempotency-Key` (per token `sub`) with the same body within 24 h answers the ' +
      'first response again and sends nothing twice.',
    auth: { bearer: ['notifications:write'] },
    headers: {
      'Idempotency-Key': {
        schema: z.string().regex(IDEMPOTENCY_KEY),
        description: '1 to 255 visible ASCII characters, unique per request you mean',
        example: 'order-A-1-receipt',
      },
    },
    body: {
      component: 'NotificationRequest',
      schema: notificationRequestSchema,
      examples: Object.fromEntries(
        Object.entries(NOTIFICATION_EXAMPLES).map(([name, e]) => [
          name,
          { summary: e.summary, value: e.request },
        ]),
      ),
    },
    responses: {
      202: {
        description: 'Accepted and durable: queued, or scheduled for sendAt.',
        headers: {
          Location: { description: 'The notification', schema: { type: 'string' } },
        },
        json: {
          component: 'AcceptedNotification',
          schema: acceptedNotificationSchema,
          examples: acceptedExamples,
        },
      },
    },
    errors: {
      ...BEARER_ERRORS,
      ...JSON_BODY_ERRORS,
      409: 'This Idempotency-Key was used with a different body.',
      429: true,
    },
  },
  {
    method: 'post',
    path: '/v1/notifications/batch',
    operationId: 'sendNotificationBatch',
    tag: 'Notifications',
    summary: `Send up to ${MAX_BATCH_ITEMS} notifications in one request`,
    description:
      'Each item is a NotificationRequest validated on its own: a bad item gets its own problem ' +
      'in the result, the good ones are accepted. With an `Idempotency-Key`, a retry of the ' +
      'batch within 24 h answers what was accepted again and sends nothing twice, item by item: ' +
      'an item whose body changed gets a 409 problem in its place.',
    auth: { bearer: ['notifications:write'] },
    headers: {
      'Idempotency-Key': {
        schema: z.string().regex(IDEMPOTENCY_KEY),
        description: '1 to 255 visible ASCII characters, unique per batch you mean',
        example: 'orders-2026-03-02-shipped',
      },
    },
    body: {
      component: 'NotificationBatchRequest',
      schema: batchEnvelopeSchema,
      patch: (json, components) => {
        const items = (json.properties as Record<string, Record<string, unknown>>).items!;
        items.items = components.ref('NotificationRequest', notificationRequestSchema, 'input');
      },
      examples: {
        mixed: {
          summary: 'One good item, one that cannot render (no link for the template)',
          value: {
            items: [
              NOTIFICATION_EXAMPLES.inlineEmail.request,
              {
                to: { email: 'grace@example.com' },
                channels: ['email'],
                template: TEMPLATE_KEY_EXAMPLE,
                data: { name: 'Grace' },
              },
            ],
          },
        },
      },
    },
    responses: {
      202: {
        description: 'One result per item, in order: accepted, or the problem with that item.',
        json: {
          component: 'NotificationBatchResult',
          schema: batchResultSchema,
          examples: {
            mixed: {
              summary: 'One accepted, one rejected',
              value: {
                accepted: 1,
                rejected: 1,
                items: [
                  { index: 0, ...NOTIFICATION_EXAMPLES.inlineEmail.accepted },
                  {
                    index: 1,
                    error: {
                      type: 'https://herald.dev/problems/validation-failed',
                      title: 'Validation failed',
                      status: 422,
                      detail: `The template ${TEMPLATE_KEY_EXAMPLE} cannot be rendered with this request.`,
                      errors: [
                        { field: 'data.link', in: 'body', message: 'missing variable link' },
                      ],
                    },
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
      ...JSON_BODY_ERRORS,
      429: "Its acceptable items would overrun the caller's allowance per minute: none was accepted.",
    },
  },
  {
    method: 'get',
    path: '/v1/notifications',
    operationId: 'listNotifications',
    tag: 'Notifications',
    summary: 'Notifications, newest first, found by metadata, time, status, channel or recipient',
    description:
      "Transactional notifications (a campaign's are seen through its campaign), each with its " +
      'status and deliveries but not their attempts (GET the notification for those). Filters ' +
      'combine; `metadata[key]=value` matches a top-level metadata value as text, so ' +
      '`metadata[orderId]=A-1` finds what was sent for order A-1. `since` and `until` are the ' +
      "acceptance time. Pass a page's `next` as `before` for the page after it. A filtered page " +
      'looks through at most 5,000 notifications: it may come back short, even empty, with a ' +
      '`next` to go on from; the last page has no `next`.',
    auth: { bearer: ['notifications:read'] },
    query: {
      schema: notificationListQuerySchema,
      examples: {
        owner: 'billing-service',
        status: 'failed',
        channel: 'email',
        lane: 'transactional',
        category: 'billing',
        recipientId: 'u-42',
        template: TEMPLATE_KEY_EXAMPLE,
        metadata: { orderId: 'A-1' },
        since: '2026-03-02T00:00:00Z',
        until: '2026-03-03T00:00:00Z',
        limit: 50,
        before: ids.notification,
      },
    },
    responses: {
      200: {
        description: 'One page of notifications.',
        json: {
          component: 'NotificationPage',
          schema: notificationPageSchema,
          examples: {
            byOrder: {
              summary: 'What was sent for order A-1',
              value: {
                items: [
                  {
                    ...viewExample,
                    deliveries: viewExample.deliveries.map(({ attempts: _, ...d }) => d),
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
      422: 'A query parameter is invalid or unknown (each one named).',
    },
  },
  {
    method: 'get',
    path: '/v1/notifications/:id',
    operationId: 'getNotification',
    tag: 'Notifications',
    summary: 'A notification: status, timestamps, every delivery and its attempts',
    auth: { bearer: ['notifications:read'] },
    pathParams: notificationId,
    responses: {
      200: {
        description: 'The notification.',
        json: {
          component: 'Notification',
          schema: notificationViewSchema,
          examples: {
            sent: { summary: 'Email sent on its second attempt, push skipped', value: viewExample },
          },
        },
      },
    },
    errors: {
      ...BEARER_ERRORS,
      404: true,
      409: "A campaign's notification: its deliveries are counted on GET /v1/campaigns/{campaignId} (the Link header).",
    },
  },
  {
    method: 'post',
    path: '/v1/notifications/:id/cancel',
    operationId: 'cancelNotification',
    tag: 'Notifications',
    summary: 'Cancel the deliveries not sent yet (scheduled or queued)',
    auth: { bearer: ['notifications:write'] },
    pathParams: notificationId,
    responses: {
      200: {
        description: 'The notification after cancelling, and which deliveries were cancelled.',
        json: {
          component: 'CancelledNotification',
          schema: cancelledNotificationSchema,
          examples: {
            scheduled: { summary: 'A scheduled email cancelled', value: cancelledExample },
          },
        },
      },
    },
    errors: {
      ...BEARER_ERRORS,
      404: true,
      409: "Every delivery of this notification was already sent or settled; or it is a campaign's notification, cancelled with its campaign (the Link header).",
    },
  },
];

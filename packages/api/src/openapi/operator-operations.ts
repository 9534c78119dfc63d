import { z } from 'zod';
import { CHANNELS, deadLetterSchema, LANES } from '@herald/core';
import type { DeadLetterView } from '../operations/dead-letter-admin';
import type { ChannelOverview } from '../operations/queue-overview';
import {
  dlqListQuerySchema,
  JOB_ID,
  messagingTestBodySchema,
  redriveManyBodySchema,
} from '../routes/operators';
import {
  ids,
  NOTIFICATION_EXAMPLES,
  RECIPIENT_ID,
  RESET_LINK,
  TEMPLATE_KEY_EXAMPLE,
} from './examples';
import { acceptedNotificationSchema } from './notification-responses';
import { BEARER_ERRORS, JSON_BODY_ERRORS, type OperationSpec } from './operation-spec';

export const queueOverviewSchema = z.object({
  channels: z.array(
    z.object({
      channel: z.enum(CHANNELS),
      circuit: z.enum(['closed', 'half_open', 'open', 'unknown']),
      dlq: z.int().min(0).describe('Dead letters waiting'),
      lanes: z.array(
        z.object({
          queue: z.string(),
          channel: z.enum(CHANNELS),
          lane: z.enum(LANES),
          waiting: z.int().min(0),
          active: z.int().min(0),
          delayed: z.int().min(0),
          prioritized: z.int().min(0),
          failed: z.int().min(0),
          throughputLastMinute: z.int().min(0).describe('Jobs finished in the last full minute'),
          pausedForMs: z
            .int()
            .min(0)
            .describe(
              "Milliseconds the lane stays paused by its workers (a provider's rate limit or Retry-After, the lane's share of the budget, an open breaker); 0 while it runs",
            ),
        }),
      ),
    }),
  ) satisfies z.ZodType<ChannelOverview[]>,
});

/** A dead letter as listed (dead-letter-admin.ts's DeadLetterView: core's dead letter less the job). */
export const deadLetterViewSchema = deadLetterSchema
  .omit({ v: true, job: true })
  .extend({ jobId: z.string() }) satisfies z.ZodType<DeadLetterView>;

export const deadLetterPageSchema = z.object({
  channel: z.enum(CHANNELS),
  offset: z.int().min(0),
  limit: z.int().min(1),
  total: z.int().min(0),
  items: z.array(deadLetterViewSchema),
});

export const redriveResultSchema = z.object({
  redriven: z.int().min(0),
  deliveryIds: z.array(z.string()),
  orphaned: z
    .array(z.string())
    .optional()
    .describe(
      'Dead letters left in the DLQ because their delivery record was purged (RETENTION_DAYS): ' +
        'redriven, they would be sent with no record. Delete them.',
    ),
});

const deadLetterExample = {
  jobId: ids.delivery2,
  deliveryId: ids.delivery2,
  notificationId: ids.notification,
  channel: 'email',
  lane: 'transactional',
  queue: 'email.transactional',
  reason: 'recipient_rejected: 550 5.1.1 mailbox unavailable',
  failedAt: '2026-03-02T10:15:02.000Z',
  attemptsMade: 1,
  errors: [
    {
      attempt: 1,
      at: '2026-03-02T10:15:02.000Z',
      outcome: 'permanent_error',
      code: 'recipient_rejected',
      message: '550 5.1.1 mailbox unavailable',
    },
  ],
};

const lane = (queue: string, waiting: number, throughput: number) => {
  const [channel, laneName] = queue.split('.');
  return {
    queue,
    channel,
    lane: laneName,
    waiting,
    active: waiting > 0 ? 5 : 0,
    delayed: 0,
    prioritized: 0,
    failed: 0,
    throughputLastMinute: throughput,
    pausedForMs: 0,
  };
};

const redriveResponse = (summary: string, deliveryIds: string[]) => ({
  description: 'Back in their lane queue with fresh attempts; their history is kept.',
  json: {
    component: 'RedriveResult',
    schema: redriveResultSchema,
    examples: { redriven: { summary, value: { redriven: deliveryIds.length, deliveryIds } } },
  },
});

const jobId = {
  jobId: {
    schema: z.string().regex(JOB_ID),
    description: 'The dead letter job id (the delivery id)',
    example: ids.delivery2,
  },
};

export const operatorOperations: OperationSpec[] = [
  {
    method: 'get',
    path: '/v1/queues',
    operationId: 'getQueues',
    tag: 'Operators',
    summary: 'Per channel: lane depths, DLQ size, circuit state, throughput',
    auth: { bearer: ['admin'] },
    responses: {
      200: {
        description: 'Every channel, each with its transactional and campaign lanes.',
        json: {
          component: 'QueueOverview',
          schema: queueOverviewSchema,
          examples: {
            busy: {
              summary: 'A campaign draining through email',
              value: {
                channels: [
                  {
                    channel: 'email',
                    circuit: 'closed',
                    dlq: 3,
                    lanes: [
                      lane('email.transactional', 0, 420),
                      lane('email.campaign', 18200, 12000),
                    ],
                  },
                  {
                    channel: 'telegram',
                    circuit: 'half_open',
                    dlq: 0,
                    lanes: [lane('telegram.transactional', 2, 35), lane('telegram.campaign', 0, 0)],
                  },
                  {
                    channel: 'webhook',
                    circuit: 'closed',
                    dlq: 0,
                    // A receiver answered 429 with Retry-After: 30.
                    lanes: [
                      { ...lane('webhook.transactional', 40, 0), pausedForMs: 27_400 },
                      { ...lane('webhook.campaign', 900, 0), pausedForMs: 27_400 },
                    ],
                  },
                ],
              },
            },
          },
        },
      },
    },
    errors: BEARER_ERRORS,
  },
  {
    method: 'get',
    path: '/v1/dlq',
    operationId: 'listDeadLetters',
    tag: 'Operators',
    summary: "A channel's dead letters, paged",
    auth: { bearer: ['admin'] },
    query: { schema: dlqListQuerySchema, examples: { channel: 'email', offset: 0, limit: 50 } },
    responses: {
      200: {
        description: 'One page, oldest first.',
        json: {
          component: 'DeadLetterPage',
          schema: deadLetterPageSchema,
          examples: {
            page: {
              summary: 'One rejected address',
              value: {
                channel: 'email',
                offset: 0,
                limit: 50,
                total: 1,
                items: [deadLetterExample],
              },
            },
          },
        },
      },
    },
    errors: { ...BEARER_ERRORS, 422: 'A query parameter is invalid (each one named).' },
  },
  {
    method: 'post',
    path: '/v1/dlq/redrive',
    operationId: 'redriveDeadLetters',
    tag: 'Operators',
    summary: "Redrive up to `limit` of a channel's dead letters",
    auth: { bearer: ['admin'] },
    body: {
      component: 'RedriveRequest',
      schema: redriveManyBodySchema,
      examples: {
        email: {
          summary: 'The first 100 email dead letters',
          value: { channel: 'email', limit: 100 },
        },
      },
    },
    responses: { 202: redriveResponse('Two redriven', [ids.delivery2, ids.delivery3]) },
    errors: { ...BEARER_ERRORS, ...JSON_BODY_ERRORS },
  },
  {
    method: 'post',
    path: '/v1/dlq/:jobId/redrive',
    operationId: 'redriveDeadLetter',
    tag: 'Operators',
    summary: 'Redrive one dead letter',
    auth: { bearer: ['admin'] },
    pathParams: jobId,
    responses: { 202: redriveResponse('One redriven', [ids.delivery2]) },
    errors: {
      ...BEARER_ERRORS,
      404: true,
      409: 'Its delivery record was purged (RETENTION_DAYS): it would be sent with no record. Delete it instead.',
    },
  },
  {
    method: 'delete',
    path: '/v1/dlq/:jobId',
    operationId: 'deleteDeadLetter',
    tag: 'Operators',
    summary: 'Delete one dead letter',
    auth: { bearer: ['admin'] },
    pathParams: jobId,
    responses: { 204: { description: 'Deleted (audited).' } },
    errors: { ...BEARER_ERRORS, 404: true },
  },
  {
    method: 'post',
    path: '/v1/messaging/test',
    operationId: 'sendTestMessage',
    tag: 'Operators',
    summary: 'Send a test message on one channel',
    description: 'Sent on the transactional lane with `metadata: {test: true, requestedBy}`.',
    auth: { bearer: ['admin'] },
    body: {
      component: 'MessagingTestRequest',
      schema: messagingTestBodySchema,
      examples: {
        storedRecipient: {
          summary: 'The password reset email to a stored recipient',
          value: {
            recipientId: RECIPIENT_ID,
            channel: 'email',
            template: TEMPLATE_KEY_EXAMPLE,
            data: { name: 'Ada', link: RESET_LINK },
          },
        },
      },
    },
    responses: {
      202: {
        description: 'Accepted like any notification.',
        json: {
          component: 'AcceptedNotification',
          schema: acceptedNotificationSchema,
          examples: {
            storedRecipient: {
              summary: 'Queued',
              value: NOTIFICATION_EXAMPLES.inlineEmail.accepted,
            },
          },
        },
      },
    },
    errors: { ...BEARER_ERRORS, ...JSON_BODY_ERRORS },
  },
];

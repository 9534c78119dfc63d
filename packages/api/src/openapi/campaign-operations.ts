import { z } from 'zod';
import { CHANNELS } from '@herald/core';
import type { CampaignDelivery, CampaignView } from '@herald/db';
import {
  CAMPAIGN_STATUSES,
  campaignDeliveriesQuerySchema,
  campaignListQuerySchema,
  campaignRequestSchema,
  MAX_INLINE_AUDIENCE,
} from '../campaigns/campaign-request';
import { UUID } from '../notifications/notification-request';
import { IDEMPOTENCY_KEY } from '../routes/notifications';
import { ids, RESET_LINK, TEMPLATE_KEY_EXAMPLE } from './examples';
import { deliverySummarySchema } from './notification-responses';
import {
  BEARER_ERRORS,
  JSON_BODY_ERRORS,
  type OperationSpec,
  type ResponseSpec,
} from './operation-spec';

const campaignStatusSchema = z.enum(CAMPAIGN_STATUSES);

export const campaignCreatedSchema = z.object({ id: z.uuid(), status: campaignStatusSchema });

/** GET /v1/campaigns/:id (campaign-store.ts's CampaignView). */
export const campaignViewSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  status: campaignStatusSchema,
  channels: z.array(z.enum(CHANNELS)),
  category: z.string().describe('The preference category recipients can unsubscribe from'),
  templateKey: z.string().optional(),
  sendAt: z.iso.datetime().optional(),
  throttle: z.object({ perSecond: z.int().min(1).max(100_000) }).optional(),
  counts: z.object({
    total: z.int().min(0),
    queued: z.int().min(0),
    sent: z.int().min(0),
    failed: z.int().min(0),
    skipped: z.int().min(0),
    cancelled: z.int().min(0),
  }),
  expanded: z.boolean().describe('Whether every recipient of the audience has a delivery yet'),
  createdAt: z.iso.datetime(),
  startedAt: z.iso.datetime().optional(),
  completedAt: z.iso.datetime().optional(),
}) satisfies z.ZodType<CampaignView>;

/** GET /v1/campaigns/:id/deliveries: one page (delivery-history.ts's CampaignDelivery). */
const campaignDeliveryPageSchema = z.object({
  items: z.array(
    deliverySummarySchema.extend({
      notificationId: z.uuid(),
      recipientId: z.string().optional().describe('Absent once the recipient was erased'),
      createdAt: z.iso.datetime(),
    }) satisfies z.ZodType<CampaignDelivery>,
  ),
  next: z
    .uuid()
    .optional()
    .describe(
      'The `before` of the next page; absent on the last page. A filtered page reads at most ' +
        '5,000 deliveries, so it may be short, or empty, and still have a `next`.',
    ),
});

const campaignPageSchema = z.object({
  items: z.array(campaignViewSchema),
  next: z.uuid().optional().describe('The `before` of the next page; absent on the last page'),
});

const campaignExample = {
  id: ids.campaign,
  name: 'Spring sale',
  status: 'running',
  channels: ['email'],
  category: 'marketing',
  throttle: { perSecond: 200 },
  counts: { total: 48210, queued: 20110, sent: 27950, failed: 12, skipped: 138, cancelled: 0 },
  expanded: true,
  createdAt: '2026-03-02T09:00:00.000Z',
  startedAt: '2026-03-02T09:00:00.004Z',
};

const campaignId = {
  id: { schema: z.string().regex(UUID), description: 'The campaign id', example: ids.campaign },
};

const viewResponse = (description: string, example: object, summary: string): ResponseSpec => ({
  description,
  json: {
    component: 'Campaign',
    schema: campaignViewSchema,
    examples: { campaign: { summary, value: example } },
  },
});

const control = (
  action: 'pause' | 'resume' | 'cancel',
  summary: string,
  after: object,
): OperationSpec => ({
  method: 'post',
  path: `/v1/campaigns/:id/${action}`,
  operationId: `${action}Campaign`,
  tag: 'Campaigns',
  summary,
  auth: { bearer: ['campaigns:write'] },
  pathParams: campaignId,
  responses: {
    202: viewResponse('The campaign in its new status.', after, `After ${action}`),
  },
  errors: {
    ...BEARER_ERRORS,
    404: true,
    409: `The campaign's status does not allow ${action} (e.g. a completed campaign).`,
  },
});

export const campaignOperations: OperationSpec[] = [
  {
    method: 'post',
    path: '/v1/campaigns',
    operationId: 'createCampaign',
    tag: 'Campaigns',
    summary: 'Start (or schedule) a campaign to an audience',
    description:
      `The audience is up to ${MAX_INLINE_AUDIENCE.toLocaleString('en')} inline recipient ids, ` +
      'a tag, or every stored recipient. The call returns at once; the audience is expanded in ' +
      'the background, in batches. `throttle.perSecond` caps its sends per second, held by ' +
      'every worker together: jobs that come due at once (after an outage or a backlog) wait ' +
      'for their slot without spending an attempt. Bodies up to 4 MiB. Every campaign email ' +
      'carries List-Unsubscribe (RFC 8058). The same `Idempotency-Key` (per token `sub`) with ' +
      'the same body within 24 h answers the first response again and starts no second campaign.',
    auth: { bearer: ['campaigns:write'] },
    headers: {
      'Idempotency-Key': {
        schema: z.string().regex(IDEMPOTENCY_KEY),
        description: '1 to 255 visible ASCII characters, unique per campaign you mean',
        example: 'spring-sale-2026',
      },
    },
    body: {
      component: 'CampaignRequest',
      schema: campaignRequestSchema,
      examples: {
        tagInline: {
          summary: 'Inline content to every recipient tagged beta, throttled',
          value: {
            name: 'Spring sale',
            channels: ['email'],
            content: {
              email: {
                subject: 'Spring sale: 20% off until Sunday',
                html: '<h1>Spring sale</h1><p>20% off everything until Sunday.</p>',
                text: 'Spring sale: 20% off everything until Sunday.',
              },
            },
            audience: { tag: 'beta' },
            throttle: { perSecond: 200 },
            category: 'marketing',
          },
        },
        listedTemplate: {
          summary: 'A stored template to listed recipients, at a later time',
          value: {
            name: 'Forced password reset',
            template: TEMPLATE_KEY_EXAMPLE,
            channels: ['email'],
            audience: { recipientIds: ['u-42', 'u-43', 'u-44'] },
            data: { name: 'there', link: RESET_LINK },
            sendAt: '2030-01-15T09:00:00Z',
          },
        },
      },
    },
    responses: {
      202: {
        description: 'Accepted: `running` (expansion under way) or `scheduled`.',
        headers: { Location: { description: 'The campaign', schema: { type: 'string' } } },
        json: {
          component: 'CampaignCreated',
          schema: campaignCreatedSchema,
          examples: {
            tagInline: { summary: 'Started', value: { id: ids.campaign, status: 'running' } },
            listedTemplate: {
              summary: 'Scheduled',
              value: { id: ids.campaign, status: 'scheduled' },
            },
          },
        },
      },
    },
    errors: {
      ...BEARER_ERRORS,
      ...JSON_BODY_ERRORS,
      409: 'This Idempotency-Key was used with a different campaign.',
    },
  },
  {
    method: 'get',
    path: '/v1/campaigns',
    operationId: 'listCampaigns',
    tag: 'Campaigns',
    summary: 'Campaigns, newest first, a page at a time',
    description:
      "Pass a page's `next` as `before` for the page after it; the last page has no `next`. " +
      'Pages are cut on the campaign id, so campaigns created meanwhile never shift them.',
    auth: { bearer: ['campaigns:read'] },
    query: {
      schema: campaignListQuerySchema,
      examples: { status: 'running', limit: 50, before: ids.campaign },
    },
    responses: {
      200: {
        description: 'One page of campaigns.',
        json: {
          component: 'CampaignPage',
          schema: campaignPageSchema,
          examples: {
            page: {
              summary: 'The newest campaign, and more to come',
              value: { items: [campaignExample], next: ids.campaign },
            },
          },
        },
      },
    },
    errors: { ...BEARER_ERRORS, 422: 'A query parameter is invalid (each one named).' },
  },
  {
    method: 'get',
    path: '/v1/campaigns/:id',
    operationId: 'getCampaign',
    tag: 'Campaigns',
    summary: 'A campaign: status and delivery counts',
    auth: { bearer: ['campaigns:read'] },
    pathParams: campaignId,
    responses: { 200: viewResponse('The campaign.', campaignExample, 'Half way through') },
    errors: { ...BEARER_ERRORS, 404: true },
  },
  {
    method: 'get',
    path: '/v1/campaigns/:id/deliveries',
    operationId: 'listCampaignDeliveries',
    tag: 'Campaigns',
    summary: "A campaign's deliveries, newest first: to whom, how it went and why",
    description:
      "Without their content (GET the notification for its attempts). Pass a page's `next` as " +
      '`before` for the page after it; the last page has no `next`. With a filter, a page looks ' +
      'at the next 5,000 deliveries at most: it can come back short, or empty, with a `next` to ' +
      'go on from.',
    auth: { bearer: ['campaigns:read'] },
    pathParams: campaignId,
    query: {
      schema: campaignDeliveriesQuerySchema,
      examples: { status: 'failed', channel: 'email', limit: 50, before: ids.delivery1 },
    },
    responses: {
      200: {
        description: 'One page of deliveries.',
        json: {
          component: 'CampaignDeliveryPage',
          schema: campaignDeliveryPageSchema,
          examples: {
            failed: {
              summary: 'An address the mail server refused',
              value: {
                items: [
                  {
                    id: ids.delivery2,
                    notificationId: ids.notification,
                    recipientId: 'u-42',
                    channel: 'email',
                    lane: 'campaign',
                    status: 'failed',
                    reason: '550 5.1.1 mailbox unavailable',
                    attemptsCount: 1,
                    createdAt: '2026-03-02T09:00:04.000Z',
                    queuedAt: '2026-03-02T09:00:04.120Z',
                    updatedAt: '2026-03-02T09:00:05.310Z',
                  },
                ],
                next: ids.delivery2,
              },
            },
          },
        },
      },
    },
    errors: { ...BEARER_ERRORS, 404: true, 422: 'A query parameter is not valid.' },
  },
  control('pause', 'Pause a campaign (workers stop at their next batch)', {
    ...campaignExample,
    status: 'paused',
  }),
  control('resume', 'Resume a paused campaign', campaignExample),
  control('cancel', 'Cancel a campaign: what has not started becomes cancelled', {
    ...campaignExample,
    status: 'cancelled',
    counts: { ...campaignExample.counts, queued: 0, cancelled: 20110 },
    completedAt: '2026-03-02T09:12:31.000Z',
  }),
];

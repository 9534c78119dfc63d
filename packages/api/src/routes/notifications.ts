import { Router, type Request } from 'express';
import { z } from 'zod';
import { getNotificationView, listNotifications } from '@herald/db';
import type { Database } from '@herald/db';
import { principalOf, type createAuthorizer } from '../auth';
import {
  gatherMetadataFilters,
  notificationListQuerySchema,
  notificationRequestSchema,
  UUID,
} from '../notifications/notification-request';
import type { NotificationService } from '../notifications/notification-service';
import { fieldErrorsFromZod, problemBody, ProblemError, validationProblem } from '../problem';
import { sendJson } from '../send-json';
import { storableJsonErrors } from '../storable-json';

/** Up to 1,000 notification bodies, each validated on its own. */
export const MAX_BATCH_ITEMS = 1000;
export const batchEnvelopeSchema = z
  .object({ items: z.array(z.unknown()).min(1).max(MAX_BATCH_ITEMS) })
  .strict();

export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** The Idempotency-Key header, or a 422 naming it when it is malformed. */
export function idempotencyKeyOf(req: Request): string | undefined {
  const key = req.get('Idempotency-Key');
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    throw validationProblem([
      { field: 'Idempotency-Key', in: 'header', message: '1 to 255 visible ASCII characters' },
    ]);
  }
  return key;
}

export function requireJsonBody(req: Request): unknown {
  if (!req.is('application/json')) {
    throw new ProblemError(415, 'Unsupported media type', 'Send the body as application/json.');
  }
  const unstorable = storableJsonErrors(req.body);
  if (unstorable.length > 0) throw validationProblem(unstorable);
  return req.body;
}

export function notificationRoutes(deps: {
  authorize: ReturnType<typeof createAuthorizer>;
  notifications: NotificationService;
  db: Database;
}): Router {
  const router = Router();

  /**
   * A campaign's notification carries every delivery of the campaign (a
   * million, maybe): it is seen and cancelled through its campaign, never
   * loaded or cancelled whole here.
   */
  async function refuseCampaignNotification(id: string): Promise<void> {
    const found = await deps.db.prisma.notification.findUnique({
      where: { id },
      select: { campaignId: true },
    });
    const campaignId = found?.campaignId;
    if (!campaignId) return;
    throw new ProblemError(
      409,
      "A campaign's notification",
      `Notification ${id} belongs to campaign ${campaignId}: its deliveries are counted on ` +
        `GET /v1/campaigns/${campaignId}, and it is cancelled with the campaign ` +
        `(POST /v1/campaigns/${campaignId}/cancel).`,
      { headers: { Link: `</v1/campaigns/${campaignId}>; rel="related"` } },
    );
  }

  router.post('/v1/notifications', deps.authorize('notifications:write'), async (req, res) => {
    const body = requireJsonBody(req);
    const key = idempotencyKeyOf(req);
    const parsed = notificationRequestSchema.safeParse(body);
    if (!parsed.success) throw validationProblem(fieldErrorsFromZod(parsed.error));
    const response = await deps.notifications.accept(parsed.data, {
      owner: principalOf(res).sub,
      idempotencyKey: key,
    });
    sendJson(res, 202, response, { Location: `/v1/notifications/${response.id}` });
  });

  router.post(
    '/v1/notifications/batch',
    deps.authorize('notifications:write'),
    async (req, res) => {
      const key = idempotencyKeyOf(req);
      const envelope = batchEnvelopeSchema.safeParse(requireJsonBody(req));
      if (!envelope.success) throw validationProblem(fieldErrorsFromZod(envelope.error));
      // Each item stands alone: a bad one gets its own problem, the rest go through.
      const items = envelope.data.items.map((item) => {
        const parsed = notificationRequestSchema.safeParse(item);
        return parsed.success ? parsed.data : validationProblem(fieldErrorsFromZod(parsed.error));
      });
      const results = await deps.notifications.acceptBatch(items, {
        owner: principalOf(res).sub,
        idempotencyKey: key,
      });
      const accepted = results.filter((r) => !(r instanceof ProblemError)).length;
      sendJson(res, 202, {
        accepted,
        rejected: results.length - accepted,
        items: results.map((r, index) =>
          r instanceof ProblemError ? { index, error: problemBody(r) } : { index, ...r },
        ),
      });
    },
  );

  router.post(
    '/v1/notifications/:id/cancel',
    deps.authorize('notifications:write'),
    async (req, res) => {
      const id = String(req.params.id);
      if (UUID.test(id)) await refuseCampaignNotification(id);
      const cancelled = UUID.test(id)
        ? await deps.notifications.cancel(id, principalOf(res).sub)
        : undefined;
      if (!cancelled) throw new ProblemError(404, 'Not found', `No notification ${id}.`);
      if (cancelled.length === 0) {
        throw new ProblemError(
          409,
          'Conflict',
          'Every delivery of this notification was already sent or settled.',
        );
      }
      res.json({ ...(await getNotificationView(deps.db.prisma, id)), cancelled });
    },
  );

  // What was sent, found by what the caller knows: its own metadata, a time, a status.
  router.get('/v1/notifications', deps.authorize('notifications:read'), async (req, res) => {
    const parsed = notificationListQuerySchema.safeParse(gatherMetadataFilters(req.query));
    if (!parsed.success) {
      // Named as sent: metadata[orderId], not metadata.orderId.
      const errors = fieldErrorsFromZod(parsed.error, 'query').map((e) => ({
        ...e,
        field: e.field.replace(/^metadata\.(.*)$/, 'metadata[$1]'),
      }));
      throw validationProblem(errors);
    }
    const { template, since, until, ...filters } = parsed.data;
    res.json(
      await listNotifications(deps.db.pool, {
        ...filters,
        templateKey: template,
        since: since ? new Date(since) : undefined,
        until: until ? new Date(until) : undefined,
      }),
    );
  });

  router.get('/v1/notifications/:id', deps.authorize('notifications:read'), async (req, res) => {
    const id = String(req.params.id);
    if (UUID.test(id)) await refuseCampaignNotification(id);
    const view = UUID.test(id) ? await getNotificationView(deps.db.prisma, id) : undefined;
    if (!view) throw new ProblemError(404, 'Not found', `No notification ${id}.`);
    res.json(view);
  });

  return router;
}

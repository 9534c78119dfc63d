import { Router } from 'express';
import type { Queue } from 'bullmq';
import { z } from 'zod';
import { CHANNELS, type Channel, type Redis } from '@herald/core';
import { principalOf, type createAuthorizer } from '../auth';
import type { DeadLetterAdmin } from '../operations/dead-letter-admin';
import {
  inlineContentSchema,
  notificationRequestSchema,
  notificationTargetSchema,
  recipientIdSchema,
} from '../notifications/notification-request';
import type { NotificationService } from '../notifications/notification-service';
import { getQueueOverview } from '../operations/queue-overview';
import { fieldErrorsFromZod, ProblemError, validationProblem } from '../problem';
import { requireJsonBody } from './notifications';

export const dlqListQuerySchema = z.object({
  channel: z.enum(CHANNELS),
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

export const redriveManyBodySchema = z
  .object({ channel: z.enum(CHANNELS), limit: z.number().int().min(1).max(1000).default(100) })
  .strict();

export const JOB_ID = /^[\w.-]{1,100}$/;

export const messagingTestBodySchema = z
  .object({
    recipientId: recipientIdSchema.optional(),
    to: notificationTargetSchema.optional(),
    channel: z.enum(CHANNELS),
    template: z.string().min(1).max(200).optional(),
    content: inlineContentSchema.optional(),
    data: z.record(z.string(), z.json()).optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    if ((body.recipientId === undefined) === (body.to === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['recipientId'],
        message: 'give either recipientId or to',
      });
    }
  });

/** Operator API (scope admin): queue overview and the dead-letter queues. */
export function operatorRoutes(deps: {
  authorize: ReturnType<typeof createAuthorizer>;
  queues: Map<string, Queue>;
  deadLetterQueues: Map<Channel, Queue>;
  redis: Redis;
  prefix: string;
  deadLetters: DeadLetterAdmin;
  notifications: NotificationService;
}): Router {
  const router = Router();
  const admin = deps.authorize('admin');

  router.get('/v1/queues', admin, async (_req, res) => {
    res.json({ channels: await getQueueOverview(deps) });
  });

  router.get('/v1/dlq', admin, async (req, res) => {
    const parsed = dlqListQuerySchema.safeParse(req.query);
    if (!parsed.success) throw validationProblem(fieldErrorsFromZod(parsed.error, 'query'));
    const { channel, offset, limit } = parsed.data;
    const page = await deps.deadLetters.list(channel, offset, limit);
    res.json({ channel, offset, limit, ...page });
  });

  router.post('/v1/dlq/redrive', admin, async (req, res) => {
    const parsed = redriveManyBodySchema.safeParse(requireJsonBody(req));
    if (!parsed.success) throw validationProblem(fieldErrorsFromZod(parsed.error));
    const { redriven, orphaned } = await deps.deadLetters.redriveMany(
      parsed.data.channel,
      parsed.data.limit,
      principalOf(res).sub,
    );
    res.status(202).json({
      redriven: redriven.length,
      deliveryIds: redriven,
      ...(orphaned.length > 0 ? { orphaned } : {}),
    });
  });

  router.post('/v1/dlq/:jobId/redrive', admin, async (req, res) => {
    const jobId = String(req.params.jobId);
    const outcome = JOB_ID.test(jobId)
      ? await deps.deadLetters.redriveOne(jobId, principalOf(res).sub)
      : undefined;
    if (!outcome) throw new ProblemError(404, 'Not found', `No dead-lettered job ${jobId}.`);
    if (outcome.orphaned.length > 0) {
      throw new ProblemError(
        409,
        'Delivery record purged',
        `The delivery of ${jobId} is no longer in Postgres (purged past RETENTION_DAYS): ` +
          'redriven, it would be sent with no record of it. Delete the dead letter instead.',
      );
    }
    res.status(202).json({ redriven: outcome.redriven.length, deliveryIds: outcome.redriven });
  });

  router.delete('/v1/dlq/:jobId', admin, async (req, res) => {
    const jobId = String(req.params.jobId);
    const removed =
      JOB_ID.test(jobId) && (await deps.deadLetters.remove(jobId, principalOf(res).sub));
    if (!removed) throw new ProblemError(404, 'Not found', `No dead-lettered job ${jobId}.`);
    res.status(204).end();
  });

  router.post('/v1/messaging/test', admin, async (req, res) => {
    const parsed = messagingTestBodySchema.safeParse(requireJsonBody(req));
    if (!parsed.success) throw validationProblem(fieldErrorsFromZod(parsed.error));
    const { recipientId, to, channel, template, content, data } = parsed.data;
    const sub = principalOf(res).sub;
    const request = notificationRequestSchema.safeParse({
      to: recipientId !== undefined ? { recipientId } : to,
      channels: [channel],
      ...(template !== undefined ? { template } : {}),
      ...(content !== undefined ? { content } : {}),
      ...(data !== undefined ? { data } : {}),
      lane: 'transactional',
      metadata: { test: true, requestedBy: sub },
    });
    if (!request.success) throw validationProblem(fieldErrorsFromZod(request.error));
    const accepted = await deps.notifications.accept(request.data, { owner: sub });
    res.status(202).location(`/v1/notifications/${accepted.id}`).json(accepted);
  });

  return router;
}

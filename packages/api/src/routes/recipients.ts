import type { Channel, Redis } from '@herald/core';
import type { Queue } from 'bullmq';
import { Router, type Request } from 'express';
import { listRecipientDeliveries, listRecipients, type Database } from '@herald/db';
import { principalOf, type createAuthorizer } from '../auth';
import { recipientIdSchema } from '../notifications/notification-request';
import { fieldErrorsFromZod, ProblemError, validationProblem } from '../problem';
import {
  pushSubscriptionQuerySchema,
  pushSubscriptionRequestSchema,
  recipientDeliveriesQuerySchema,
  recipientListQuerySchema,
  recipientProfileSchema,
} from '../recipients/recipient-request';
import { createRecipientService } from '../recipients/recipient-service';
import { namedParameters } from '../query-parameters';
import { requireJsonBody } from './notifications';

/** The `:id` of the path, or a 422 naming `id`. */
function recipientIdOf(req: Request): string {
  const parsed = recipientIdSchema.safeParse(req.params.id);
  if (!parsed.success) throw validationProblem(fieldErrorsFromZod(parsed.error, 'path', ['id']));
  return parsed.data;
}

const noRecipient = (id: string) => new ProblemError(404, 'Not found', `No recipient ${id}.`);
const location = (id: string) => `/v1/recipients/${encodeURIComponent(id)}`;

/** Recipients, their push subscriptions, and the VAPID public key browsers subscribe with. */
export function recipientRoutes(deps: {
  authorize: ReturnType<typeof createAuthorizer>;
  db: Database;
  vapidPublicKey?: string;
  redis?: Redis;
  prefix?: string;
  queues?: Map<string, Queue>;
  deadLetterQueues?: Map<Channel, Queue>;
}): Router {
  const router = Router();
  const recipients = createRecipientService({
    db: deps.db,
    redis: deps.redis,
    prefix: deps.prefix,
    queues: deps.queues,
    deadLetterQueues: deps.deadLetterQueues,
  });
  const read = deps.authorize('recipients:read');
  const write = deps.authorize('recipients:write');

  // Who carries a tag (a campaign's audience), or who has this address: support's lookup.
  router.get('/v1/recipients', read, async (req, res) => {
    const query = recipientListQuerySchema.safeParse(namedParameters(req.query));
    if (!query.success) throw validationProblem(fieldErrorsFromZod(query.error, 'query'));
    res.json(await listRecipients(deps.db.pool, query.data));
  });

  router.put('/v1/recipients/:id', write, async (req, res) => {
    const id = recipientIdOf(req);
    const parsed = recipientProfileSchema.safeParse(requireJsonBody(req));
    if (!parsed.success) throw validationProblem(fieldErrorsFromZod(parsed.error));
    const { created, recipient } = await recipients.replace(id, parsed.data);
    if (created) res.status(201).location(location(id));
    res.json(recipient);
  });

  router.get('/v1/recipients/:id', read, async (req, res) => {
    const id = recipientIdOf(req);
    const recipient = await recipients.get(id);
    if (!recipient) throw noRecipient(id);
    res.json(recipient);
  });

  // What was sent to this recipient: support's first question. Delivery data, so notifications:read.
  router.get(
    '/v1/recipients/:id/deliveries',
    deps.authorize('notifications:read'),
    async (req, res) => {
      const id = recipientIdOf(req);
      const query = recipientDeliveriesQuerySchema.safeParse(req.query);
      if (!query.success) throw validationProblem(fieldErrorsFromZod(query.error, 'query'));
      const [exists, page] = await Promise.all([
        deps.db.prisma.recipient.count({ where: { id } }),
        listRecipientDeliveries(deps.db.pool, id, query.data),
      ]);
      if (!exists) throw noRecipient(id);
      res.json(page);
    },
  );

  router.delete('/v1/recipients/:id', write, async (req, res) => {
    const id = recipientIdOf(req);
    const erased = await recipients.erase(id, principalOf(res).sub);
    if (!erased) throw noRecipient(id);
    res.status(204).end();
  });

  router.post('/v1/recipients/:id/push-subscriptions', write, async (req, res) => {
    const id = recipientIdOf(req);
    const parsed = pushSubscriptionRequestSchema.safeParse(requireJsonBody(req));
    if (!parsed.success) throw validationProblem(fieldErrorsFromZod(parsed.error));
    const subscription = await recipients.addPushSubscription(id, parsed.data);
    if (!subscription) throw noRecipient(id);
    res.status(201).json(subscription);
  });

  router.delete('/v1/recipients/:id/push-subscriptions', write, async (req, res) => {
    const id = recipientIdOf(req);
    const query = pushSubscriptionQuerySchema.safeParse(req.query);
    if (!query.success) throw validationProblem(fieldErrorsFromZod(query.error, 'query'));
    const removed = await recipients.removePushSubscription(id, query.data.endpoint);
    if (!removed) {
      throw new ProblemError(404, 'Not found', `Recipient ${id} has no such push subscription.`);
    }
    res.status(204).end();
  });

  // No auth: a page's script asks for it before subscribing the browser.
  router.get('/v1/push/vapid-public-key', (_req, res) => {
    if (!deps.vapidPublicKey) {
      throw new ProblemError(404, 'Not found', 'push channel not configured');
    }
    res.json({ publicKey: deps.vapidPublicKey });
  });

  return router;
}

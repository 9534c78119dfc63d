import { Router } from 'express';
import { principalOf, type createAuthorizer } from '../auth';
import {
  campaignDeliveriesQuerySchema,
  campaignListQuerySchema,
  campaignRequestSchema,
} from '../campaigns/campaign-request';
import type { CampaignService } from '../campaigns/campaign-service';
import { fieldErrorsFromZod, ProblemError, validationProblem } from '../problem';
import { UUID } from '../notifications/notification-request';
import { idempotencyKeyOf, requireJsonBody } from './notifications';

export function campaignRoutes(deps: {
  authorize: ReturnType<typeof createAuthorizer>;
  campaigns: CampaignService;
}): Router {
  const router = Router();
  const write = deps.authorize('campaigns:write');

  router.post('/v1/campaigns', write, async (req, res) => {
    const idempotencyKey = idempotencyKeyOf(req);
    const parsed = campaignRequestSchema.safeParse(requireJsonBody(req));
    if (!parsed.success) throw validationProblem(fieldErrorsFromZod(parsed.error));
    const created = await deps.campaigns.create(parsed.data, {
      owner: principalOf(res).sub,
      idempotencyKey,
    });
    res.status(202).location(`/v1/campaigns/${created.id}`).json(created);
  });

  router.get('/v1/campaigns', deps.authorize('campaigns:read'), async (req, res) => {
    const parsed = campaignListQuerySchema.safeParse(req.query);
    if (!parsed.success) throw validationProblem(fieldErrorsFromZod(parsed.error, 'query'));
    res.json(await deps.campaigns.list(parsed.data));
  });

  router.get('/v1/campaigns/:id', deps.authorize('campaigns:read'), async (req, res) => {
    const id = String(req.params.id);
    const view = UUID.test(id) ? await deps.campaigns.get(id) : undefined;
    if (!view) throw new ProblemError(404, 'Not found', `No campaign ${id}.`);
    res.json(view);
  });

  // Which recipients a campaign reached, and which it did not and why.
  router.get('/v1/campaigns/:id/deliveries', deps.authorize('campaigns:read'), async (req, res) => {
    const id = String(req.params.id);
    const query = campaignDeliveriesQuerySchema.safeParse(req.query);
    if (!query.success) throw validationProblem(fieldErrorsFromZod(query.error, 'query'));
    const page = UUID.test(id) ? await deps.campaigns.deliveries(id, query.data) : undefined;
    if (!page) throw new ProblemError(404, 'Not found', `No campaign ${id}.`);
    res.json(page);
  });

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    router.post(`/v1/campaigns/:id/${action}`, write, async (req, res) => {
      const id = String(req.params.id);
      if (!UUID.test(id)) throw new ProblemError(404, 'Not found', `No campaign ${id}.`);
      res.status(202).json(await deps.campaigns[action](id, principalOf(res).sub));
    });
  }

  return router;
}

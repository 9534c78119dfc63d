import { setCampaignRunState, type Logger, type Redis } from '@herald/core';
import {
  cancelCampaignDeliveries,
  createCampaign,
  findIdempotencyRecord,
  getCampaignView,
  initialCampaignStatus,
  listCampaignDeliveries,
  listCampaignViews,
  recordAudit,
  transitionCampaign,
  type CampaignView,
  type Database,
  type DeliveryPageQuery,
} from '@herald/db';
import type { TemplateRenderer } from '@herald/templates';
import { templateFieldErrors } from '../template-check';
import { v7 as uuidv7 } from 'uuid';
import { hashRequestBody } from '../notifications/canonical-json';
import { ProblemError, validationProblem } from '../problem';
import type { CampaignRequest } from './campaign-request';

const DEFAULT_CATEGORY = 'marketing';

/**
 * Campaigns: accepted in one statement and answered at once, whatever the
 * audience size; the scheduler expands them in the background. Pause,
 * resume and cancel flip Postgres (the record) and a Redis marker that
 * workers read once per batch.
 */
export function createCampaignService(deps: {
  db: Database;
  redis: Redis;
  prefix: string;
  templates: TemplateRenderer;
  log: Logger;
  now?: () => Date;
}) {
  const now = deps.now ?? (() => new Date());

  async function checkTemplate(request: CampaignRequest): Promise<string | undefined> {
    if (request.template === undefined) return undefined;
    const template = await deps.templates.get(request.template);
    if (!template)
      throw validationProblem([
        { field: 'template', in: 'body', message: `no template ${request.template}` },
      ]);
    // Each recipient adds `recipient.id`; the rest must come with the campaign.
    const errors = templateFieldErrors(template, request.template, request.channels, {
      ...(request.data ?? {}),
      recipient: { id: 'check' },
    });
    if (errors.length > 0) throw validationProblem(errors);
    return template.category;
  }

  async function transition(
    id: string,
    actor: string,
    action: 'pause' | 'resume' | 'cancel',
  ): Promise<CampaignView> {
    const rules = {
      pause: { from: ['scheduled', 'running'], to: 'paused' },
      resume: { from: ['paused'], to: 'running' },
      cancel: { from: ['scheduled', 'running', 'paused'], to: 'cancelled' },
    } as const;
    const rule = rules[action];
    const before = await getCampaignView(deps.db.prisma, id);
    if (!before) throw new ProblemError(404, 'Not found', `No campaign ${id}.`);
    // Workers see the marker at their next batch; Postgres follows.
    if (action !== 'resume')
      await setCampaignRunState(deps.redis, deps.prefix, id, rule.to as 'paused' | 'cancelled');
    const status = await transitionCampaign(deps.db.pool, id, [...rule.from], rule.to);
    if (!status) {
      // Put back the marker the campaign's status calls for: a cancelled campaign stays cancelled.
      const current = (await getCampaignView(deps.db.prisma, id))?.status ?? before.status;
      if (action !== 'resume')
        await setCampaignRunState(
          deps.redis,
          deps.prefix,
          id,
          current === 'paused' || current === 'cancelled' ? current : 'running',
        );
      throw new ProblemError(409, 'Conflict', `A ${current} campaign cannot ${action}.`);
    }
    if (action === 'resume') await setCampaignRunState(deps.redis, deps.prefix, id, 'running');
    if (action === 'cancel') await cancelCampaignDeliveries(deps.db.pool, id);
    await recordAudit(deps.db.prisma, {
      actor,
      action: `campaign.${action}`,
      entityType: 'campaign',
      entityId: id,
    });
    return (await getCampaignView(deps.db.prisma, id))!;
  }

  return {
    /**
     * With an idempotency key (claimed as `<key> campaign`, apart from the
     * keys of sends), a retry answers the first response and starts nothing.
     */
    async create(
      request: CampaignRequest,
      options: { owner: string; idempotencyKey?: string },
    ): Promise<{ id: string; status: string }> {
      const { owner, idempotencyKey } = options;
      const templateCategory = await checkTemplate(request);
      const id = uuidv7();
      const claim = idempotencyKey
        ? { key: `${idempotencyKey} campaign`, requestHash: hashRequestBody(request) }
        : undefined;
      const at = now();
      const sendAt = request.sendAt ? new Date(request.sendAt) : undefined;
      const status = await createCampaign(
        deps.db.pool,
        {
          id,
          notificationId: uuidv7(),
          owner,
          name: request.name,
          templateKey: request.template,
          content: request.content,
          channels: request.channels,
          // Sorted once, so the fan-out walks inline audiences in id order.
          audience:
            'recipientIds' in request.audience
              ? { recipientIds: [...new Set(request.audience.recipientIds)].sort() }
              : request.audience,
          data: request.data,
          category: request.category ?? templateCategory ?? DEFAULT_CATEGORY,
          sendAt,
          throttlePerSecond: request.throttle?.perSecond,
        },
        at,
        claim && { ...claim, response: { id, status: initialCampaignStatus(sendAt, at) } },
      );
      if (status) return { id, status };
      const record = await findIdempotencyRecord(deps.db.pool, owner, claim!.key);
      if (!record || record.requestHash !== claim!.requestHash) {
        throw new ProblemError(
          409,
          'Idempotency key reused',
          'This Idempotency-Key was used with a different campaign.',
        );
      }
      return record.response as { id: string; status: string };
    },
    get: (id: string) => getCampaignView(deps.db.prisma, id),
    /** A page of the campaign's deliveries; undefined when there is no such campaign. */
    async deliveries(id: string, query: DeliveryPageQuery) {
      const [exists, page] = await Promise.all([
        deps.db.prisma.campaign.count({ where: { id } }),
        listCampaignDeliveries(deps.db.pool, id, query),
      ]);
      return exists ? page : undefined;
    },
    list: (options: Parameters<typeof listCampaignViews>[1]) =>
      listCampaignViews(deps.db.prisma, options),
    pause: (id: string, actor: string) => transition(id, actor, 'pause'),
    resume: (id: string, actor: string) => transition(id, actor, 'resume'),
    cancel: (id: string, actor: string) => transition(id, actor, 'cancel'),
  };
}

export type CampaignService = ReturnType<typeof createCampaignService>;

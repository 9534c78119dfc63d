import { Router, type Response } from 'express';
import { z } from 'zod';
import { categorySchema, CHANNELS, type Redis } from '@herald/core';
import type { Database } from '@herald/db';
import {
  compileTemplate,
  loadStoredTemplate,
  MissingVariablesError,
  publishTemplateChange,
  type TemplateRenderer,
  renderTemplateDetailed,
  templateDefinitionSchema,
  TemplateChannelMissingError,
  TemplateRenderError,
  TemplateSyntaxError,
} from '@herald/templates';
import { principalOf, type createAuthorizer } from '../auth';
import { fieldErrorsFromZod, ProblemError, validationProblem, type FieldError } from '../problem';
import {
  deleteTemplate,
  findTemplate,
  listTemplates,
  saveTemplate,
} from '../templates/template-store';
import { requireJsonBody } from './notifications';
import { requestLogOf } from '../request-log';

export const TEMPLATE_KEY = /^[\w.-]{1,100}$/;

export const previewBodySchema = z
  .object({
    channel: z.enum(CHANNELS),
    data: z.record(z.string(), z.json()).default({}),
    locale: z.string().min(1).max(64).optional(),
  })
  .strict();

/** GET /v1/templates: key order, keyset pages. */
export const templateListQuerySchema = z.object({
  category: categorySchema.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  after: z.string().regex(TEMPLATE_KEY, "a template key: the previous page's next").optional(),
});

const notFound = (key: string) => new ProblemError(404, 'Not found', `No template ${key}.`);

/** Why a preview could not render, as a 422 naming what to fix. */
function previewProblem(err: unknown): ProblemError | undefined {
  if (err instanceof MissingVariablesError) {
    return validationProblem(
      err.variables.map((name) => ({
        field: `data.${name}`,
        in: 'body',
        message: `missing variable ${name}`,
      })),
      `The data lacks variables the template uses: ${err.variables.join(', ')}.`,
    );
  }
  if (err instanceof TemplateChannelMissingError) {
    return validationProblem([{ field: 'channel', in: 'body', message: err.message }]);
  }
  if (err instanceof TemplateRenderError || err instanceof TemplateSyntaxError) {
    return validationProblem([...err.issues], 'The template did not render with this data.');
  }
  return undefined;
}

/** Stored templates (Liquid per channel and locale) and their preview. */
export function templateRoutes(deps: {
  authorize: ReturnType<typeof createAuthorizer>;
  db: Database;
  redis: Redis;
  prefix: string;
  /** This process's renderer (the gateway validates template sends with it). */
  renderer?: TemplateRenderer;
}): Router {
  const router = Router();
  const read = deps.authorize('templates:read');
  const write = deps.authorize('templates:write');

  /** Tells every renderer to reload the key; its TTL covers a publish that fails. */
  async function announce(res: Response, key: string): Promise<void> {
    deps.renderer?.invalidate(key);
    try {
      await publishTemplateChange(deps.redis, deps.prefix, key);
    } catch (err) {
      requestLogOf(res).warn({ err, templateKey: key }, 'template change not published');
    }
  }

  router.put('/v1/templates/:key', write, async (req, res) => {
    const key = String(req.params.key);
    const body = requireJsonBody(req);
    const errors: FieldError[] = TEMPLATE_KEY.test(key)
      ? []
      : [{ field: 'key', in: 'path', message: '1 to 100 letters, digits, _ . or -' }];
    const parsed = templateDefinitionSchema.safeParse(body);
    if (!parsed.success) errors.push(...fieldErrorsFromZod(parsed.error));
    if (errors.length > 0 || !parsed.success) throw validationProblem(errors);
    const { template, created } = await saveTemplate(
      deps.db.prisma,
      key,
      parsed.data,
      principalOf(res).sub,
    );
    await announce(res, key);
    res
      .status(created ? 201 : 200)
      .location(`/v1/templates/${key}`)
      .json(template);
  });

  router.get('/v1/templates', read, async (req, res) => {
    const parsed = templateListQuerySchema.safeParse(req.query);
    if (!parsed.success) throw validationProblem(fieldErrorsFromZod(parsed.error, 'query'));
    res.json(await listTemplates(deps.db.prisma, parsed.data));
  });

  router.get('/v1/templates/:key', read, async (req, res) => {
    const key = String(req.params.key);
    const template = TEMPLATE_KEY.test(key) ? await findTemplate(deps.db.prisma, key) : undefined;
    if (!template) throw notFound(key);
    res.json(template);
  });

  router.delete('/v1/templates/:key', write, async (req, res) => {
    const key = String(req.params.key);
    const deleted =
      TEMPLATE_KEY.test(key) && (await deleteTemplate(deps.db.prisma, key, principalOf(res).sub));
    if (!deleted) throw notFound(key);
    await announce(res, key);
    res.status(204).end();
  });

  router.post('/v1/templates/:key/preview', read, async (req, res) => {
    const key = String(req.params.key);
    const parsed = previewBodySchema.safeParse(requireJsonBody(req));
    if (!parsed.success) throw validationProblem(fieldErrorsFromZod(parsed.error));
    const stored = TEMPLATE_KEY.test(key)
      ? await loadStoredTemplate(deps.db.prisma, key)
      : undefined;
    if (!stored) throw notFound(key);
    const { channel, data, locale } = parsed.data;
    try {
      const rendered = renderTemplateDetailed(compileTemplate(stored), channel, data, locale);
      res.json({ key, version: stored.version, ...rendered });
    } catch (err) {
      throw previewProblem(err) ?? err;
    }
  });

  return router;
}

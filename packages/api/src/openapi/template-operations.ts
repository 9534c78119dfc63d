import { z } from 'zod';
import {
  emailContentSchema,
  pushContentSchema,
  telegramContentSchema,
  webhookContentSchema,
} from '@herald/core';
import { localeChannelsSchema, templateDefinitionSchema } from '@herald/templates';
import { previewBodySchema, TEMPLATE_KEY, templateListQuerySchema } from '../routes/templates';
import type { TemplateSummary, TemplateView } from '../templates/template-store';
import { RESET_LINK, TEMPLATE_KEY_EXAMPLE, templateDefinitionExample } from './examples';
import { BEARER_ERRORS, JSON_BODY_ERRORS, type OperationSpec } from './operation-spec';

/** A stored template (template-store.ts's TemplateView). */
export const templateViewSchema = z.object({
  key: z.string(),
  category: z.string().nullable(),
  channels: localeChannelsSchema,
  locales: z.record(z.string(), localeChannelsSchema),
  version: z.int().min(1).describe('1 when created, bumped by every change'),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
}) satisfies z.ZodType<TemplateView>;

/** GET /v1/templates: one page of template summaries (no bodies). */
export const templatePageSchema = z.object({
  items: z.array(
    z.object({
      key: z.string(),
      category: z.string().nullable(),
      channels: z.array(z.string()).describe('The channels it has content for'),
      locales: z.array(z.string()).describe('Its locales besides the default'),
      version: z.int().min(1),
      createdAt: z.iso.datetime(),
      updatedAt: z.iso.datetime(),
    }) satisfies z.ZodType<TemplateSummary>,
  ),
  next: z.string().optional().describe('The `after` of the next page; absent on the last page'),
});

const preview = <C extends string>(channel: C, content: z.ZodType) =>
  z.object({
    key: z.string(),
    version: z.int().min(1),
    channel: z.literal(channel),
    locale: z.string().nullable().describe('The locale whose content was used; null: the default'),
    content,
  });

/** POST /v1/templates/:key/preview: the content the channel would send. */
export const templatePreviewSchema = z.discriminatedUnion('channel', [
  preview('email', emailContentSchema),
  preview('telegram', telegramContentSchema),
  preview('push', pushContentSchema),
  preview('webhook', webhookContentSchema),
]);

const templateKey = {
  key: {
    schema: z.string().regex(TEMPLATE_KEY),
    description: '1 to 100 letters, digits, _ . or -',
    example: TEMPLATE_KEY_EXAMPLE,
  },
};

const storedExample = {
  key: TEMPLATE_KEY_EXAMPLE,
  ...templateDefinitionExample,
  version: 3,
  createdAt: '2026-02-20T14:00:00.000Z',
  updatedAt: '2026-03-01T09:30:00.000Z',
};

const templateResponse = (description: string, version: number) => ({
  description,
  headers: { Location: { description: 'The template', schema: { type: 'string' } } },
  json: {
    component: 'Template',
    schema: templateViewSchema,
    examples: {
      passwordReset: {
        summary: `password-reset, version ${version}`,
        value: { ...storedExample, version },
      },
    },
  },
});

export const templateOperations: OperationSpec[] = [
  {
    method: 'put',
    path: '/v1/templates/:key',
    operationId: 'putTemplate',
    tag: 'Templates',
    summary: 'Create or replace a template (Liquid per channel and locale)',
    description:
      'Every string is a Liquid template, checked when saved: a syntax error or unknown filter is ' +
      'a 422 naming the field. Email HTML escapes variables; Telegram text is escaped for its ' +
      'parse mode. Senders pick the template up at once.',
    auth: { bearer: ['templates:write'] },
    pathParams: templateKey,
    body: {
      component: 'TemplateDefinition',
      schema: templateDefinitionSchema,
      examples: {
        passwordReset: {
          summary: 'Email, push and webhook, with a French email',
          value: templateDefinitionExample,
        },
      },
    },
    responses: {
      200: templateResponse('Replaced (version bumped).', 3),
      201: templateResponse('Created.', 1),
    },
    errors: { ...BEARER_ERRORS, ...JSON_BODY_ERRORS },
  },
  {
    method: 'get',
    path: '/v1/templates',
    operationId: 'listTemplates',
    tag: 'Templates',
    summary: 'Stored templates in key order, a page at a time',
    description:
      "Each with its channels, locales and version, not its content (GET one for that). Pass a page's " +
      '`next` as `after` for the page after it; the last page has no `next`.',
    auth: { bearer: ['templates:read'] },
    query: {
      schema: templateListQuerySchema,
      examples: { category: 'security', limit: 100, after: 'order-shipped' },
    },
    responses: {
      200: {
        description: 'One page of templates.',
        json: {
          component: 'TemplatePage',
          schema: templatePageSchema,
          examples: {
            page: {
              summary: 'The last page: one template',
              value: {
                items: [
                  {
                    key: TEMPLATE_KEY_EXAMPLE,
                    category: 'security',
                    channels: ['email', 'push', 'webhook'],
                    locales: ['fr'],
                    version: 3,
                    createdAt: '2026-02-20T14:00:00.000Z',
                    updatedAt: '2026-03-01T09:30:00.000Z',
                  },
                ],
              },
            },
          },
        },
      },
    },
    errors: { ...BEARER_ERRORS, 422: 'A query parameter is invalid (each one named).' },
  },
  {
    method: 'get',
    path: '/v1/templates/:key',
    operationId: 'getTemplate',
    tag: 'Templates',
    summary: 'A stored template',
    auth: { bearer: ['templates:read'] },
    pathParams: templateKey,
    responses: {
      200: {
        description: 'The template.',
        json: {
          component: 'Template',
          schema: templateViewSchema,
          examples: { passwordReset: { summary: 'password-reset', value: storedExample } },
        },
      },
    },
    errors: { ...BEARER_ERRORS, 404: true },
  },
  {
    method: 'delete',
    path: '/v1/templates/:key',
    operationId: 'deleteTemplate',
    tag: 'Templates',
    summary: 'Delete a template',
    auth: { bearer: ['templates:write'] },
    pathParams: templateKey,
    responses: { 204: { description: 'Deleted.' } },
    errors: { ...BEARER_ERRORS, 404: true },
  },
  {
    method: 'post',
    path: '/v1/templates/:key/preview',
    operationId: 'previewTemplate',
    tag: 'Templates',
    summary: 'Render a template for one channel with sample data',
    auth: { bearer: ['templates:read'] },
    pathParams: templateKey,
    body: {
      component: 'TemplatePreviewRequest',
      schema: previewBodySchema,
      examples: {
        frenchEmail: {
          summary: 'The French email',
          value: { channel: 'email', data: { name: 'Ada', link: RESET_LINK }, locale: 'fr' },
        },
      },
    },
    responses: {
      200: {
        description: 'What the channel would send.',
        json: {
          component: 'TemplatePreview',
          schema: templatePreviewSchema,
          examples: {
            frenchEmail: {
              summary: 'Rendered French email',
              value: {
                key: TEMPLATE_KEY_EXAMPLE,
                version: 1,
                channel: 'email',
                locale: 'fr',
                content: {
                  subject: 'Réinitialisez votre mot de passe, Ada',
                  text: `Bonjour Ada, choisissez un nouveau mot de passe : ${RESET_LINK}`,
                },
              },
            },
          },
        },
      },
    },
    errors: {
      ...BEARER_ERRORS,
      ...JSON_BODY_ERRORS,
      404: true,
      422: 'Invalid fields, or the data lacks variables the template uses (each one named).',
    },
  },
];

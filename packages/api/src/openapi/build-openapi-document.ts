import type { z } from 'zod';
import {
  emailContentSchema,
  pushContentSchema,
  pushSubscriptionSchema,
  telegramContentSchema,
  webhookContentSchema,
} from '@herald/core';
import { localeChannelsSchema } from '@herald/templates';
import packageJson from '../../package.json';
import {
  inlineContentSchema,
  notificationTargetSchema,
  recipientIdSchema,
} from '../notifications/notification-request';
import { buildOperation, SECURITY_SCHEMES } from './build-operation';
import { campaignOperations } from './campaign-operations';
import { notificationOperations } from './notification-operations';
import { operatorOperations } from './operator-operations';
import { openApiPath, type OperationSpec } from './operation-spec';
import { problemResponseComponents } from './problem-responses';
import { recipientOperations } from './recipient-operations';
import { createSchemaComponents } from './schema-components';
import { serviceOperations } from './service-operations';
import { templateOperations } from './template-operations';

/** Every operation the gateway serves, in the order the document lists them. */
export const OPERATIONS: readonly OperationSpec[] = [
  ...notificationOperations,
  ...campaignOperations,
  ...recipientOperations,
  ...templateOperations,
  ...operatorOperations,
  ...serviceOperations,
];

/** Parts of request bodies used in several places: one component each. */
const SHARED_REQUEST_PARTS: ReadonlyArray<readonly [z.ZodType, string]> = [
  [recipientIdSchema, 'RecipientId'],
  [notificationTargetSchema, 'NotificationTarget'],
  [pushSubscriptionSchema, 'WebPushSubscription'],
  [inlineContentSchema, 'InlineContent'],
  [emailContentSchema, 'EmailContent'],
  [telegramContentSchema, 'TelegramContent'],
  [pushContentSchema, 'PushContent'],
  [webhookContentSchema, 'WebhookContent'],
  [localeChannelsSchema, 'TemplateChannels'],
];

const TAGS = [
  { name: 'Notifications', description: 'Send one message now or later, in bulk, and follow it.' },
  { name: 'Campaigns', description: 'One message to an audience, expanded in the background.' },
  { name: 'Recipients', description: 'Stored people: addresses, preferences, push subscriptions.' },
  { name: 'Templates', description: 'Liquid templates per channel and locale.' },
  { name: 'Operators', description: 'Queues and dead letters (scope `admin`).' },
  { name: 'Service', description: 'Probes, metrics, this reference and the queue dashboard.' },
  { name: 'Unsubscribe', description: 'Signed one-click unsubscribe links (RFC 8058).' },
];

const DESCRIPTION = `Herald delivers notifications by email, Telegram, web push and webhook.

Every /v1 operation but the VAPID key needs a bearer JWT with the scope it names
(\`admin\` passes every check). Errors are \`application/problem+json\` (RFC 9457):
bodies over 1 MiB get 413, malformed JSON 400, a body not sent as application/json
415, schema violations 422 with \`errors\` naming each field.

Request schemas are generated from the zod schemas the gateway validates with.`;

export interface OpenApiDocumentOptions {
  /** The gateway's public base URL (PUBLIC_URL); the document's own origin otherwise. */
  publicUrl?: string;
}

export type OpenApiDocument = ReturnType<typeof buildOpenApiDocument>;

/** The OpenAPI 3.1 document of the gateway. */
export function buildOpenApiDocument(options: OpenApiDocumentOptions = {}) {
  const components = createSchemaComponents({ input: SHARED_REQUEST_PARTS });
  const responses = problemResponseComponents(components);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of OPERATIONS) {
    const path = openApiPath(spec.path);
    paths[path] = { ...paths[path], [spec.method]: buildOperation(spec, components) };
  }
  return {
    openapi: '3.1.1',
    info: {
      title: 'Herald',
      version: packageJson.version,
      description: DESCRIPTION,
    },
    servers: [
      options.publicUrl
        ? { url: options.publicUrl.replace(/\/+$/, ''), description: 'This gateway' }
        : { url: '/', description: 'This gateway' },
    ],
    tags: TAGS,
    paths,
    components: {
      schemas: components.all(),
      responses,
      securitySchemes: SECURITY_SCHEMES,
    },
  };
}

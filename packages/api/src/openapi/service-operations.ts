import { z } from 'zod';
import type { OperationSpec } from './operation-spec';

export const healthSchema = z.object({ status: z.literal('ok') });
export const readinessSchema = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.record(z.string(), z.string()).describe('Per dependency: `ok` or why not'),
});

const html = (example: string) => ({
  mediaType: 'text/html',
  schema: { type: 'string' },
  example,
});

const unsubscribed = (method: 'get' | 'post'): OperationSpec => ({
  method,
  path: '/u/:token',
  operationId: method === 'get' ? 'unsubscribeLink' : 'unsubscribeOneClick',
  tag: 'Unsubscribe',
  summary:
    method === 'get'
      ? 'Unsubscribe from a campaign category (the link a person clicks)'
      : 'One-click unsubscribe (RFC 8058 List-Unsubscribe-Post, form-encoded)',
  description:
    'The signed link of a campaign email’s List-Unsubscribe header. No login: the token names ' +
    'the recipient and the category.',
  auth: 'public',
  pathParams: {
    token: {
      schema: z.string().min(1),
      description: 'The signed unsubscribe token',
      example: 'dS00MnxtYXJrZXRpbmc.Nq3kTt2bH0C2Wc7rN6l3p1e5kq8xv4yZ0aB9cD8eF7g',
    },
  },
  responses: {
    200: {
      description: 'Unsubscribed (or already gone): a small HTML page.',
      other: html('<!doctype html><html lang="en">…<h1>Unsubscribed</h1>…</html>'),
    },
    404: {
      description: 'The link is not valid: a small HTML page.',
      other: html('<!doctype html><html lang="en">…<h1>Link not valid</h1>…</html>'),
    },
  },
  errors: {},
});

/** Probes, metrics, this document, the dashboard and unsubscribe links. */
export const serviceOperations: OperationSpec[] = [
  {
    method: 'get',
    path: '/healthz',
    operationId: 'getHealth',
    tag: 'Service',
    summary: 'Liveness: the process is up',
    auth: 'public',
    responses: {
      200: {
        description: 'Up.',
        json: {
          component: 'Health',
          schema: healthSchema,
          examples: { ok: { summary: 'Up', value: { status: 'ok' } } },
        },
      },
    },
    errors: {},
  },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'getReadiness',
    tag: 'Service',
    summary: 'Readiness: Redis and Postgres reachable, every migration of this build applied',
    auth: 'public',
    responses: {
      200: {
        description: 'Ready.',
        json: {
          component: 'Readiness',
          schema: readinessSchema,
          examples: {
            ready: {
              summary: 'Ready',
              value: { status: 'ok', checks: { redis: 'ok', postgres: 'ok', schema: 'ok' } },
            },
          },
        },
      },
      503: {
        description:
          'A dependency is unreachable, or the database lacks a migration of this build (this is not a problem document).',
        json: {
          component: 'Readiness',
          schema: readinessSchema,
          examples: {
            redisDown: {
              summary: 'Redis down',
              value: {
                status: 'unavailable',
                checks: { redis: 'timeout', postgres: 'ok', schema: 'ok' },
              },
            },
            schemaBehind: {
              summary: 'Rolled out before its migration ran',
              value: {
                status: 'unavailable',
                checks: {
                  redis: 'ok',
                  postgres: 'ok',
                  schema:
                    '1 migration not applied (20261203170000_recipient_email_lookup): run herald migrate',
                },
              },
            },
          },
        },
      },
    },
    errors: {},
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    tag: 'Service',
    summary: 'Prometheus metrics',
    auth: 'public',
    responses: {
      200: {
        description: 'Prometheus text exposition format.',
        other: {
          mediaType: 'text/plain',
          schema: { type: 'string' },
          example:
            '# HELP herald_notifications_accepted_total Notifications accepted.\n' +
            '# TYPE herald_notifications_accepted_total counter\n' +
            'herald_notifications_accepted_total{lane="transactional"} 1042\n',
        },
      },
    },
    errors: {},
  },
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApiDocument',
    tag: 'Service',
    summary: 'This document (OpenAPI 3.1)',
    auth: 'public',
    responses: {
      200: {
        description: 'The OpenAPI document, generated from the schemas the gateway validates with.',
        other: {
          mediaType: 'application/json',
          schema: { type: 'object', required: ['openapi', 'info', 'paths'] },
          example: { openapi: '3.1.1', info: { title: 'Herald', version: '0.1.0' }, paths: {} },
        },
      },
    },
    errors: {},
  },
  {
    method: 'get',
    path: '/docs',
    operationId: 'getApiReference',
    tag: 'Service',
    summary: 'This document rendered (Swagger UI)',
    auth: 'public',
    responses: { 200: { description: 'An HTML page.', other: html('<!doctype html>…') } },
    errors: {},
  },
  {
    method: 'get',
    path: '/admin/queues',
    operationId: 'getQueueDashboard',
    tag: 'Service',
    summary: 'Bull Board: the queues dashboard (HTTP Basic, ADMIN_USER / ADMIN_PASSWORD)',
    description:
      'Every lane queue and dead-letter queue, read-write for operators. Off (404) unless ' +
      'ADMIN_USER and ADMIN_PASSWORD are set; never open. Its pages and its own API live under ' +
      'this path.',
    auth: 'basic',
    responses: { 200: { description: 'The dashboard (HTML).', other: html('<!doctype html>…') } },
    errors: {
      401: 'No or wrong operator credentials (challenge: `Basic realm="herald-admin"`).',
      404: 'The dashboard is off (no ADMIN_USER / ADMIN_PASSWORD).',
    },
  },
  unsubscribed('get'),
  unsubscribed('post'),
];

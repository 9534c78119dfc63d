import express, { type Express } from 'express';
import type { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import {
  createAcceptedCounter,
  createDeliveriesCounter,
  type Channel,
  type GatewayConfig,
  type Logger,
  type Redis,
  type ResourceStack,
} from '@herald/core';
import { createSchemaCheck, type Database, type OutboxAcknowledger } from '@herald/db';
import { createTemplateRenderer, loadStoredTemplate } from '@herald/templates';
import { createAuthorizer, createTokenVerifier } from './auth';
import { createHttpMetrics } from './http-metrics';
import { requestLog } from './request-log';
import { createNotificationService } from './notifications/notification-service';
import { createErrorHandler, ProblemError, sendProblem } from './problem';
import { healthRoutes } from './routes/health';
import { notificationRoutes } from './routes/notifications';
import { createAcceptLimit } from './notifications/accept-limit';
import { campaignRoutes } from './routes/campaigns';
import { unsubscribeRoutes } from './routes/unsubscribe';
import { createCampaignService } from './campaigns/campaign-service';
import { recipientRoutes } from './routes/recipients';
import { templateRoutes } from './routes/templates';
import { operatorRoutes } from './routes/operators';
import { basicAuth, BULL_BOARD_PATH, bullBoardRouter } from './routes/bull-board';
import { createDeadLetterAdmin } from './operations/dead-letter-admin';
import { apiDocsRoutes } from './routes/api-docs';

export interface AppDeps {
  config: Pick<GatewayConfig, 'jwt' | 'retry' | 'queuePrefix' | 'admin' | 'publicUrl'> &
    Partial<
      Pick<
        GatewayConfig,
        | 'vapidPublicKey'
        | 'unsubscribeSecret'
        | 'previousUnsubscribeSecret'
        | 'apiRateLimitPerMinute'
      >
    >;
  db: Database;
  redis: Redis;
  /** Producer handles on every lane queue. */
  queues: Map<string, Queue>;
  deadLetterQueues: Map<Channel, Queue>;
  outboxAck: OutboxAcknowledger;
  registry: Registry;
  log: Logger;
  /**
   * The service's resources: what the app must finish on shutdown (enqueues
   * still behind their answers) is released after the HTTP server closes,
   * before the queues and Redis it needs.
   */
  stack?: ResourceStack;
  now?: () => Date;
}

/** The gateway's HTTP API, with every dependency passed in (tests build it on port 0). */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  // Responses are small and never cached: no ETag hashing per response.
  app.set('etag', false);
  app.use(requestLog(deps.log, createHttpMetrics(deps.registry)));
  // Campaign audiences may list up to 100,000 recipient ids inline: a larger body there only.
  app.post('/v1/campaigns', express.json({ limit: '4mb' }));
  app.use(express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] }));

  const authorize = createAuthorizer(createTokenVerifier(deps.config.jwt));
  // Template sends are checked at the door; the cache is refreshed on every change made here.
  const templates = createTemplateRenderer({
    load: (key) => loadStoredTemplate(deps.db.prisma, key),
    ttlMs: 5000,
  });
  const notifications = createNotificationService({
    db: deps.db,
    templates,
    prefix: deps.config.queuePrefix,
    redis: deps.redis,
    queues: deps.queues,
    retry: deps.config.retry,
    outboxAck: deps.outboxAck,
    accepted: createAcceptedCounter(deps.registry),
    deliveries: createDeliveriesCounter(deps.registry),
    log: deps.log,
    now: deps.now,
    acceptLimit: deps.config.apiRateLimitPerMinute
      ? createAcceptLimit(deps.redis, deps.config.queuePrefix, deps.config.apiRateLimitPerMinute)
      : undefined,
  });
  deps.stack?.defer('enqueues behind answers', () => notifications.close());

  // First: the ingest routes are the hot ones, no other router need look at them.
  app.use(notificationRoutes({ authorize, notifications, db: deps.db }));
  app.use(
    healthRoutes({
      registry: deps.registry,
      log: deps.log,
      checks: {
        redis: async () => {
          await deps.redis.ping();
        },
        postgres: async () => {
          await deps.db.pool.query('SELECT 1');
        },
        schema: createSchemaCheck(deps.db.pool),
      },
    }),
  );
  app.use(
    recipientRoutes({
      authorize,
      db: deps.db,
      vapidPublicKey: deps.config.vapidPublicKey,
      redis: deps.redis,
      prefix: deps.config.queuePrefix,
      queues: deps.queues,
      deadLetterQueues: deps.deadLetterQueues,
    }),
  );
  app.use(
    templateRoutes({
      authorize,
      db: deps.db,
      redis: deps.redis,
      prefix: deps.config.queuePrefix,
      renderer: templates,
    }),
  );
  app.use(
    operatorRoutes({
      authorize,
      queues: deps.queues,
      deadLetterQueues: deps.deadLetterQueues,
      redis: deps.redis,
      prefix: deps.config.queuePrefix,
      notifications,
      deadLetters: createDeadLetterAdmin({
        queues: deps.queues,
        deadLetterQueues: deps.deadLetterQueues,
        retry: deps.config.retry,
        db: deps.db,
      }),
    }),
  );
  app.use(
    campaignRoutes({
      authorize,
      campaigns: createCampaignService({
        db: deps.db,
        redis: deps.redis,
        prefix: deps.config.queuePrefix,
        templates,
        log: deps.log,
        now: deps.now,
      }),
    }),
  );
  app.use(
    unsubscribeRoutes({
      db: deps.db,
      secret: deps.config.unsubscribeSecret,
      previousSecret: deps.config.previousUnsubscribeSecret,
    }),
  );
  // The API reference: /openapi.json (generated from the request schemas) and /docs.
  app.use(apiDocsRoutes({ publicUrl: deps.config.publicUrl }));
  // The dashboard exists only when operator credentials are configured: never open.
  if (deps.config.admin) {
    app.use(
      BULL_BOARD_PATH,
      basicAuth(deps.config.admin),
      bullBoardRouter([...deps.queues.values(), ...deps.deadLetterQueues.values()]),
    );
  }

  app.use((req, res) => {
    sendProblem(res, new ProblemError(404, 'Not found', `No route for ${req.method} ${req.path}.`));
  });
  app.use(createErrorHandler(deps.log));
  return app;
}

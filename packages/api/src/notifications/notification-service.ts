import {
  enqueueJobs,
  type Logger,
  type PlannedJob,
  type Redis,
  type RetryConfig,
} from '@herald/core';
import {
  findIdempotencyRecord,
  findRecipientsAddresses,
  groupOutboxJobs,
  insertNotifications,
  type Database,
  type OutboxAcknowledger,
} from '@herald/db';
import type { Queue } from 'bullmq';
import type { Counter } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import { ProblemError, validationProblem } from '../problem';
import { hashRequestBody } from './canonical-json';
import type { NotificationRequest } from './notification-request';
import {
  planNotification,
  type AcceptedResponse,
  type PlannedNotification,
} from './plan-notification';

/** Connection states in which Redis is known to be away (not merely still connecting). */
const REDIS_DOWN = new Set(['reconnecting', 'close', 'end']);

export interface NotificationServiceDeps {
  db: Database;
  /** The producer connection: when it is not ready, jobs go straight to the outbox relay. */
  redis: Redis;
  queues: Map<string, Queue>;
  retry: RetryConfig;
  outboxAck: OutboxAcknowledger;
  accepted: Counter<'lane'>;
  log: Logger;
  now?: () => Date;
}

export interface AcceptOptions {
  owner: string;
  idempotencyKey?: string;
}

/**
 * Accepting a notification: plan it, make it durable in Postgres (one
 * statement, with its outbox entries), then enqueue. Redis being down does
 * not fail the request: the outbox keeps the jobs for the relay.
 */
export function createNotificationService(deps: NotificationServiceDeps) {
  const now = deps.now ?? (() => new Date());

  /**
   * Plans each request, loading what they reference (stored recipients) in one
   * query for all. A request that cannot be planned gets its own problem.
   */
  async function prepare(
    requests: readonly NotificationRequest[],
    owner: string,
  ): Promise<(PlannedNotification | ProblemError)[]> {
    const recipientIds = requests.flatMap((r) => (r.to.recipientId ? [r.to.recipientId] : []));
    const recipients = await findRecipientsAddresses(deps.db.prisma, recipientIds);
    const at = now();
    return requests.map((request) => {
      if (request.template !== undefined) {
        return validationProblem([
          {
            field: 'template',
            in: 'body',
            message: 'stored templates are not available yet; send inline content',
          },
        ]);
      }
      const recipientId = request.to.recipientId;
      const recipient = recipientId ? recipients.get(recipientId) : undefined;
      if (recipientId && !recipient) {
        return validationProblem([
          { field: 'to.recipientId', in: 'body', message: `no recipient with id ${recipientId}` },
        ]);
      }
      return planNotification(request, { owner, now: at, recipient, newId: uuidv7 });
    });
  }

  /** Enqueues jobs due now; scheduled ones stay in the outbox for the scheduler. */
  async function dispatch(jobs: readonly PlannedJob[]): Promise<void> {
    if (jobs.length === 0) return;
    if (REDIS_DOWN.has(deps.redis.status)) {
      // Do not wait for a timeout per request: the relay will enqueue them.
      deps.log.warn({ jobs: jobs.length }, 'Redis unavailable; leaving jobs to the outbox relay');
      return;
    }
    const { enqueued, failed } = await enqueueJobs(deps.queues, jobs, deps.retry);
    deps.outboxAck.acknowledge(enqueued);
    for (const f of failed) {
      deps.log.warn(
        { err: f.error, queue: f.queue },
        'enqueue failed; the outbox relay will retry',
      );
    }
  }

  return {
    async accept(request: NotificationRequest, options: AcceptOptions): Promise<AcceptedResponse> {
      const [planned] = await prepare([request], options.owner);
      if (!planned || planned instanceof ProblemError)
        throw planned ?? new Error('nothing planned');
      const requestHash = options.idempotencyKey ? hashRequestBody(request) : '';
      const { rows, due } = groupOutboxJobs(planned.outbox);
      const inserted = await insertNotifications(deps.db.pool, [
        {
          notification: planned.notification,
          outbox: rows,
          idempotency: options.idempotencyKey
            ? {
                owner: options.owner,
                key: options.idempotencyKey,
                requestHash,
                response: planned.response,
              }
            : undefined,
        },
      ]);
      if (!inserted.has(planned.notification.id)) {
        // The key was claimed first by an earlier request.
        const record = await findIdempotencyRecord(
          deps.db.pool,
          options.owner,
          options.idempotencyKey!,
        );
        if (!record || record.requestHash !== requestHash) {
          throw new ProblemError(
            409,
            'Idempotency key reused',
            'This Idempotency-Key was used with a different body.',
          );
        }
        return record.response as AcceptedResponse;
      }
      deps.accepted.inc({ lane: request.lane });
      await dispatch(due);
      return planned.response;
    },

    /**
     * Many notifications in one go: each item is planned alone (a bad one gets
     * its own problem), the good ones are written in ONE statement and their
     * deliveries grouped into batch jobs across items.
     */
    async acceptBatch(
      items: readonly (NotificationRequest | ProblemError)[],
      owner: string,
    ): Promise<(AcceptedResponse | ProblemError)[]> {
      const valid = items.flatMap((item, index) =>
        item instanceof ProblemError ? [] : [{ index, request: item }],
      );
      const prepared = await prepare(
        valid.map((v) => v.request),
        owner,
      );
      const results: (AcceptedResponse | ProblemError)[] = items.map((item) =>
        item instanceof ProblemError ? item : new ProblemError(500, 'Internal error'),
      );
      const planned: PlannedNotification[] = [];
      prepared.forEach((p, i) => {
        results[valid[i]!.index] = p instanceof ProblemError ? p : p.response;
        if (!(p instanceof ProblemError)) planned.push(p);
      });
      if (planned.length === 0) return results;
      const { rows, due } = groupOutboxJobs(planned.flatMap((p) => p.outbox));
      const rowsByNotification = new Map<string, typeof rows>();
      const notificationOf = new Map(
        planned.flatMap((p) => p.outbox.map((o) => [o.deliveryId, p.notification.id] as const)),
      );
      for (const row of rows) {
        const id = notificationOf.get(row.deliveryId)!;
        rowsByNotification.set(id, [...(rowsByNotification.get(id) ?? []), row]);
      }
      await insertNotifications(
        deps.db.pool,
        planned.map((p) => ({
          notification: p.notification,
          outbox: rowsByNotification.get(p.notification.id) ?? [],
        })),
      );
      for (const p of planned) deps.accepted.inc({ lane: p.notification.lane });
      await dispatch(due);
      return results;
    },
  };
}

export type NotificationService = ReturnType<typeof createNotificationService>;

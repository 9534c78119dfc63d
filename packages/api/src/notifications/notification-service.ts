import {
  countSkippedDeliveries,
  keepDeliveries,
  laneQueueName,
  markDeliveriesCancelled,
  type DeliveriesCounter,
  type Logger,
  type PlannedJob,
  type Redis,
  type RetryConfig,
} from '@herald/core';
import {
  cancelNotificationDeliveries,
  findIdempotencyRecord,
  findIdempotencyRecords,
  findRecipientsAddresses,
  groupOutboxJobs,
  insertNotifications,
  type Database,
  type IdempotencyClaim,
  type IdempotencyRecord,
  type OutboxAcknowledger,
} from '@herald/db';
import type { Queue } from 'bullmq';
import type { Counter } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import { ProblemError, validationProblem } from '../problem';
import type { TemplateRenderer } from '@herald/templates';
import { templateFieldErrors } from '../template-check';
import { createEnqueueBatcher, createInsertBatcher } from './accept-batchers';
import type { AcceptLimit } from './accept-limit';
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
  /** Stored templates, compiled and cached: a template send is checked before it is accepted. */
  templates: TemplateRenderer;
  /** The producer connection: when it is not ready, jobs go straight to the outbox relay. */
  redis: Redis;
  /** The queue prefix (cancellation markers live under it). */
  prefix: string;
  queues: Map<string, Queue>;
  retry: RetryConfig;
  outboxAck: OutboxAcknowledger;
  accepted: Counter<'lane'>;
  /** herald_deliveries_total: deliveries created `skipped` are counted here, no worker sees them. */
  deliveries: DeliveriesCounter;
  log: Logger;
  now?: () => Date;
  /** Each caller's allowance (API_RATE_LIMIT_PER_MINUTE); absent: no limit. */
  acceptLimit?: AcceptLimit;
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
  // Concurrent single sends share one insert statement and one enqueue per queue.
  const inserts = createInsertBatcher(deps.db.pool);
  const enqueues = createEnqueueBatcher(deps);

  /**
   * Plans each request, loading what they reference (stored recipients) in one
   * query for all. A request that cannot be planned gets its own problem.
   */
  async function prepare(
    requests: readonly NotificationRequest[],
    owner: string,
  ): Promise<(PlannedNotification | ProblemError)[]> {
    const recipientIds = requests.flatMap((r) => (r.to.recipientId ? [r.to.recipientId] : []));
    const templateKeys = [...new Set(requests.flatMap((r) => (r.template ? [r.template] : [])))];
    const [recipients, templates] = await Promise.all([
      findRecipientsAddresses(deps.db.prisma, recipientIds),
      Promise.all(
        templateKeys.map(async (key) => [key, await deps.templates.get(key)] as const),
      ).then((e) => new Map(e)),
    ]);
    const at = now();
    return requests.map((request) => {
      const recipientId = request.to.recipientId;
      const recipient = recipientId ? recipients.get(recipientId) : undefined;
      if (recipientId && !recipient) {
        return validationProblem([
          { field: 'to.recipientId', in: 'body', message: `no recipient with id ${recipientId}` },
        ]);
      }
      let category = request.category;
      if (request.template !== undefined) {
        const template = templates.get(request.template);
        if (!template) {
          return validationProblem([
            { field: 'template', in: 'body', message: `no template ${request.template}` },
          ]);
        }
        const errors = templateFieldErrors(
          template,
          request.template,
          request.channels,
          request.data ?? {},
          recipient?.locale,
        );
        if (errors.length > 0) {
          return validationProblem(
            errors,
            `The template ${request.template} cannot be rendered with this request.`,
          );
        }
        category ??= template.category;
      }
      return planNotification(
        { ...request, category },
        { owner, now: at, recipient, newId: uuidv7 },
      );
    });
  }

  /**
   * Enqueues jobs due now; scheduled ones stay in the outbox for the
   * scheduler. Never rejects: what does not reach Redis stays in the outbox
   * for the relay.
   */
  async function dispatch(jobs: readonly PlannedJob[]): Promise<void> {
    if (jobs.length === 0) return;
    if (REDIS_DOWN.has(deps.redis.status)) {
      // Do not wait for a timeout per request: the relay will enqueue them.
      deps.log.warn({ jobs: jobs.length }, 'Redis unavailable; leaving jobs to the outbox relay');
      return;
    }
    try {
      await Promise.all(jobs.map((job) => enqueues.add(job)));
    } catch (err) {
      deps.log.warn({ err, jobs: jobs.length }, 'enqueue failed; the outbox relay will retry');
    }
  }

  return {
    async accept(request: NotificationRequest, options: AcceptOptions): Promise<AcceptedResponse> {
      const [planned] = await prepare([request], options.owner);
      if (!planned || planned instanceof ProblemError)
        throw planned ?? new Error('nothing planned');
      const requestHash = options.idempotencyKey ? hashRequestBody(request) : '';
      const replay = (record: IdempotencyRecord | undefined): AcceptedResponse => {
        if (!record || record.requestHash !== requestHash) {
          throw new ProblemError(
            409,
            'Idempotency key reused',
            'This Idempotency-Key was used with a different body.',
          );
        }
        return record.response as AcceptedResponse;
      };
      if (deps.acceptLimit) {
        // A retry of an accepted send is answered, never refused: it sends nothing.
        if (options.idempotencyKey) {
          const record = await findIdempotencyRecord(
            deps.db.pool,
            options.owner,
            options.idempotencyKey,
          );
          if (record) return replay(record);
        }
        await deps.acceptLimit(options.owner, 1);
      }
      const { rows, due } = groupOutboxJobs(planned.outbox);
      const outcome = await inserts.add({
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
      });
      if ('error' in outcome) throw outcome.error;
      if (!outcome.inserted) {
        // The key was claimed first by an earlier request.
        return replay(
          await findIdempotencyRecord(deps.db.pool, options.owner, options.idempotencyKey!),
        );
      }
      deps.accepted.inc({ lane: request.lane });
      countSkippedDeliveries(deps.deliveries, planned.notification.deliveries);
      // Answered once durable: the enqueue goes on behind the answer (the
      // outbox entry covers a crash meanwhile), so a caller never waits on
      // Redis as well as Postgres.
      void dispatch(due);
      return planned.response;
    },

    /**
     * Cancels what has not been sent: Postgres first (the record, outbox
     * entries dropped), then Redis: waiting jobs removed, and a marker that
     * workers check for deliveries travelling in batches. Undefined when the
     * notification does not exist; an empty list when nothing was left.
     */
    async cancel(id: string, actor: string): Promise<string[] | undefined> {
      const cancelled = await cancelNotificationDeliveries(
        deps.db.pool,
        id,
        `cancelled by ${actor}`,
      );
      if (cancelled.length === 0) {
        const exists = await deps.db.prisma.notification.count({ where: { id } });
        return exists ? [] : undefined;
      }
      await markDeliveriesCancelled(
        deps.redis,
        deps.prefix,
        cancelled.map((d) => d.id),
      );
      // A waiting or delayed single job goes at once (a batch member is stopped by its marker).
      await Promise.all(
        cancelled.map(async (d) => {
          await deps.queues
            .get(laneQueueName(d.channel, d.lane))
            ?.remove(d.id)
            .catch(() => 0);
        }),
      );
      return cancelled.map((d) => d.id);
    },

    /**
     * Many notifications in one go: each item is planned alone (a bad one gets
     * its own problem), the good ones are written in ONE statement and their
     * deliveries grouped into batch jobs across items.
     *
     * With an idempotency key, each item claims `<key> <index>` (a space: no
     * single send's key has one) with its own body's hash, so a retried batch
     * replays what was accepted and sends nothing twice, item by item.
     */
    async acceptBatch(
      items: readonly (NotificationRequest | ProblemError)[],
      options: AcceptOptions,
    ): Promise<(AcceptedResponse | ProblemError)[]> {
      const { owner, idempotencyKey } = options;
      const valid = items.flatMap((item, index) =>
        item instanceof ProblemError ? [] : [{ index, request: item }],
      );
      const prepared = await prepare(
        valid.map((v) => v.request),
        owner,
      );
      const results = [...items] as (AcceptedResponse | ProblemError | NotificationRequest)[];
      let fresh: { index: number; planned: PlannedNotification; claim?: IdempotencyClaim }[] = [];
      prepared.forEach((p, i) => {
        const { index, request } = valid[i]!;
        if (p instanceof ProblemError) results[index] = p;
        else {
          const claim = idempotencyKey
            ? {
                owner,
                key: `${idempotencyKey} ${index}`,
                requestHash: hashRequestBody(request),
                response: p.response,
              }
            : undefined;
          fresh.push({ index, planned: p, claim });
        }
      });
      /**
       * Answers the items whose keys an earlier try holds, from its records
       * (its response, or a 409 if the item changed); resolves with their indexes.
       */
      const replayClaimed = async (claimed: typeof fresh): Promise<Set<number>> => {
        const records = await findIdempotencyRecords(
          deps.db.pool,
          owner,
          claimed.flatMap((f) => (f.claim ? [f.claim.key] : [])),
        );
        const answered = new Set<number>();
        for (const { index, claim } of claimed) {
          const record = claim && records.get(claim.key);
          if (!record) continue;
          results[index] =
            record.requestHash === claim.requestHash
              ? (record.response as AcceptedResponse)
              : new ProblemError(
                  409,
                  'Idempotency key reused',
                  `Item ${index} differs from the item ${index} first sent with this Idempotency-Key.`,
                );
          answered.add(index);
        }
        return answered;
      };
      // Items a previous try already accepted: replayed, not written again.
      if (idempotencyKey) {
        const answered = await replayClaimed(fresh);
        fresh = fresh.filter((f) => !answered.has(f.index));
      }
      if (fresh.length === 0) return results as (AcceptedResponse | ProblemError)[];
      // Only what is about to be written counts: not bad items, not replays.
      await deps.acceptLimit?.(owner, fresh.length);
      const { rows, due } = groupOutboxJobs(fresh.flatMap((f) => f.planned.outbox));
      const rowsByNotification = new Map<string, typeof rows>();
      const notificationOf = new Map(
        fresh.flatMap((f) =>
          f.planned.outbox.map((o) => [o.deliveryId, f.planned.notification.id] as const),
        ),
      );
      for (const row of rows) {
        const id = notificationOf.get(row.deliveryId)!;
        rowsByNotification.set(id, [...(rowsByNotification.get(id) ?? []), row]);
      }
      const inserted = await insertNotifications(
        deps.db.pool,
        fresh.map((f) => ({
          notification: f.planned.notification,
          outbox: rowsByNotification.get(f.planned.notification.id) ?? [],
          idempotency: f.claim,
        })),
      );
      // A concurrent try of the same batch claimed some keys first: those are its.
      const lost = fresh.filter((f) => !inserted.has(f.planned.notification.id));
      if (lost.length > 0) await replayClaimed(lost);
      const written = fresh.filter((f) => inserted.has(f.planned.notification.id));
      for (const { index, planned } of written) {
        results[index] = planned.response;
        deps.accepted.inc({ lane: planned.notification.lane });
        countSkippedDeliveries(deps.deliveries, planned.notification.deliveries);
      }
      const writtenDeliveries = new Set(
        written.flatMap((f) => f.planned.notification.deliveries.map((d) => d.id)),
      );
      await dispatch(
        lost.length === 0
          ? due
          : due.flatMap((job) => keepDeliveries(job, writtenDeliveries) ?? []),
      );
      return results as (AcceptedResponse | ProblemError)[];
    },

    /**
     * For shutdown, once no request is left: sends on the enqueues that were
     * still waiting behind their answers, and waits for Redis to confirm them,
     * so they need not wait for the outbox relay.
     */
    async close(): Promise<void> {
      await enqueues.close();
      await inserts.close();
    },
  };
}

export type NotificationService = ReturnType<typeof createNotificationService>;

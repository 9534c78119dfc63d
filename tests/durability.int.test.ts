import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createApp } from '@herald/api';
import {
  closeQueues,
  createDeadLetterQueues,
  createLaneQueues,
  createLogger,
  createProducerConnection,
  createRegistry,
  createWorkerConnection,
  JOB_PAYLOAD_VERSION,
} from '@herald/core';
import { createDatabase, OutboxAcknowledger, type Database } from '@herald/db';
import {
  bearer,
  createHarness,
  createTestDatabase,
  deleteKeysWithPrefix,
  FAST_RETRY,
  TEST_REDIS_URL,
  testJwtConfig,
  testToken,
  uniqueQueuePrefix,
  waitFor,
  type Harness,
  type TestDatabase,
} from '@herald/testkit';

/** Nothing listens on port 1: connections are refused at once. */
const DEAD_POSTGRES_URL = 'postgresql://postgres@127.0.0.1:1/x';
const DEAD_REDIS_URL = 'redis://127.0.0.1:1';

const token = testToken('notifications:write notifications:read', 'durability');

const emailBody = (email: string) => ({
  to: { email },
  channels: ['email'],
  content: { email: { subject: 'Durable', text: 'accepted means durable' } },
});

/** The gateway app composed as services/gateway/src/main.ts does, on the given clients. */
function composeGateway(db: Database, redisUrl: string) {
  const prefix = uniqueQueuePrefix();
  // A connection that never opened still arms ioredis' close timer on disconnect
  // (disconnectTimeout, 2 s by default), which would outlive the test file.
  const redis = createProducerConnection(redisUrl, { disconnectTimeout: 50 });
  redis.on('error', () => {});
  const queues = createLaneQueues(redis, prefix);
  const deadLetterQueues = createDeadLetterQueues(redis, prefix);
  const allQueues = [...queues.values(), ...deadLetterQueues.values()];
  for (const queue of allQueues) queue.on('error', () => {});
  const outboxAck = new OutboxAcknowledger(db.pool);
  const app = createApp({
    config: {
      jwt: testJwtConfig,
      retry: FAST_RETRY,
      queuePrefix: prefix,
      publicUrl: 'http://herald.test',
    },
    db,
    redis,
    queues,
    deadLetterQueues,
    outboxAck,
    registry: createRegistry('gateway-durability-test', false),
    log: createLogger('gateway-test', process.env.TEST_LOG_LEVEL ?? 'silent'),
  });
  return {
    app,
    prefix,
    redis,
    queues,
    async close() {
      await outboxAck.close();
      await closeQueues(allQueues);
      redis.disconnect();
      await deleteKeysWithPrefix(prefix);
    },
  };
}

/** Keys matching a pattern, read over a connection of its own (that waits for Redis). */
async function redisKeys(pattern: string): Promise<string[]> {
  const redis = createWorkerConnection(TEST_REDIS_URL);
  try {
    return await redis.keys(pattern);
  } finally {
    redis.disconnect();
  }
}

function expectProblem(res: request.Response, status: number): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toEqual(
    expect.objectContaining({ type: expect.any(String), title: expect.any(String), status }),
  );
}

describe('accepted means durable', () => {
  describe('Postgres unreachable', () => {
    let db: Database;
    let gateway: ReturnType<typeof composeGateway>;

    beforeAll(() => {
      db = createDatabase(DEAD_POSTGRES_URL, { connectionTimeoutMillis: 500 });
      gateway = composeGateway(db, TEST_REDIS_URL);
    });

    afterAll(async () => {
      await gateway.close();
      await db.close();
    });

    const post = (body: object, headers: Record<string, string> = {}) =>
      request(gateway.app).post('/v1/notifications').set(bearer(token)).set(headers).send(body);

    it('answers 503 and enqueues nothing: nothing is accepted that is not stored', async () => {
      const res = await post(emailBody('pg-down@example.test'));
      expectProblem(res, 503);
      expect(res.body.detail).toMatch(/database/i);
      expect(res.headers['retry-after']).toBeDefined();
      expect(res.body).not.toHaveProperty('id');
    });

    it('is 503 too with an Idempotency-Key, a stored recipient or several channels', async () => {
      expectProblem(
        await post(emailBody('pg-down@example.test'), { 'Idempotency-Key': 'pg-down-1' }),
        503,
      );
      expectProblem(
        await post({ ...emailBody('x@example.test'), to: { recipientId: 'u-pg-down' } }),
        503,
      );
      expectProblem(
        await post({
          to: { email: 'pg-down@example.test', webhookUrl: 'https://hooks.example.test/x' },
          channels: ['email', 'webhook'],
          content: {
            email: { subject: 'Durable', text: 'text' },
            webhook: { payload: { event: 'x' } },
          },
        }),
        503,
      );
    });

    it('reading a notification is 503, not 500', async () => {
      const res = await request(gateway.app)
        .get(`/v1/notifications/${randomUUID()}`)
        .set(bearer(token));
      expectProblem(res, 503);
    });

    it('nothing reached Redis', async () => {
      // BullMQ writes each queue's `meta` hash when it connects; no job, id or event list exists.
      const keys = await redisKeys(`${gateway.prefix}*`);
      expect(keys.filter((k) => !k.endsWith(':meta'))).toEqual([]);
      for (const queue of gateway.queues.values()) {
        expect(await queue.count()).toBe(0);
      }
    });

    it('/readyz answers 503 naming postgres; /healthz still 200', async () => {
      const res = await request(gateway.app).get('/readyz').expect(503);
      expect(res.body.status).toBe('unavailable');
      expect(res.body.checks.redis).toBe('ok');
      expect(res.body.checks.postgres).toEqual(expect.any(String));
      expect(res.body.checks.postgres).not.toBe('ok');
      await request(gateway.app).get('/healthz').expect(200);
    });
  });

  describe('Redis unreachable, Postgres fine', () => {
    let testDb: TestDatabase;
    let gateway: ReturnType<typeof composeGateway>;

    beforeAll(async () => {
      testDb = await createTestDatabase();
      gateway = composeGateway(testDb.db, DEAD_REDIS_URL);
    });

    afterAll(async () => {
      await gateway.close();
      await testDb.drop();
    });

    it('accepts (202) and keeps the notification, its deliveries and the job in the outbox', async () => {
      const res = await request(gateway.app)
        .post('/v1/notifications')
        .set(bearer(token))
        .send(emailBody('redis-down@example.test'))
        .expect(202);
      expect(res.body).toMatchObject({
        status: 'queued',
        deliveries: [{ channel: 'email', status: 'queued' }],
      });
      const notificationId: string = res.body.id;
      const deliveryId: string = res.body.deliveries[0].id;

      const notification = await testDb.db.prisma.notification.findUnique({
        where: { id: notificationId },
        include: { deliveries: true },
      });
      expect(notification).toMatchObject({ owner: 'durability', lane: 'transactional' });
      expect(notification!.deliveries).toEqual([
        expect.objectContaining({ id: deliveryId, channel: 'email', status: 'queued' }),
      ]);

      const outbox = await testDb.db.prisma.outboxEntry.findMany({ where: { deliveryId } });
      expect(outbox).toHaveLength(1);
      expect(outbox[0]).toMatchObject({
        queue: 'email.transactional',
        payload: {
          v: JOB_PAYLOAD_VERSION,
          deliveryId,
          notificationId,
          channel: 'email',
          lane: 'transactional',
          to: { email: 'redis-down@example.test' },
          content: { subject: 'Durable', text: 'accepted means durable' },
          acceptedAt: expect.any(Number),
        },
      });

      // The same rows, seen through plain SQL (what the outbox relay reads).
      const { rows } = await testDb.db.pool.query<{
        queue: string;
        payload: { deliveryId: string };
      }>('SELECT queue, payload FROM outbox WHERE delivery_id = $1', [deliveryId]);
      expect(rows).toEqual([
        { queue: 'email.transactional', payload: expect.objectContaining({ deliveryId }) },
      ]);
    });

    it('keeps one outbox entry per queued delivery, on each lane queue', async () => {
      const res = await request(gateway.app)
        .post('/v1/notifications')
        .set(bearer(token))
        .send({
          to: { email: 'two@example.test', webhookUrl: 'https://hooks.example.test/herald' },
          channels: ['email', 'webhook'],
          lane: 'campaign',
          content: {
            email: { subject: 'Two', text: 'channels' },
            webhook: { payload: { event: 'two' } },
          },
        })
        .expect(202);
      const ids = (res.body.deliveries as { id: string }[]).map((d) => d.id);
      const outbox = await testDb.db.prisma.outboxEntry.findMany({
        where: { deliveryId: { in: ids } },
        orderBy: { queue: 'asc' },
      });
      expect(outbox.map((o) => o.queue)).toEqual(['email.campaign', 'webhook.campaign']);
    });

    it('/readyz answers 503 naming redis', async () => {
      const res = await request(gateway.app).get('/readyz').expect(503);
      expect(res.body.status).toBe('unavailable');
      expect(res.body.checks.postgres).toBe('ok');
      expect(res.body.checks.redis).toEqual(expect.any(String));
      expect(res.body.checks.redis).not.toBe('ok');
    });
  });

  describe('both up', () => {
    let h: Harness;

    beforeAll(async () => {
      h = await createHarness();
    });

    afterAll(async () => {
      await h.close();
    });

    it('enqueues the job under the gateway prefix and then removes its outbox entry', async () => {
      const res = await request(h.app)
        .post('/v1/notifications')
        .set(bearer(token))
        .send(emailBody('both-up@example.test'))
        .expect(202);
      const notificationId: string = res.body.id;
      const deliveryId: string = res.body.deliveries[0].id;

      await waitFor(
        async () => (await h.db.prisma.outboxEntry.count({ where: { deliveryId } })) === 0,
        { what: `the outbox entry of ${deliveryId} to be acknowledged` },
      );

      const job = await h.queues.get('email.transactional')!.getJob(deliveryId);
      expect(job).toBeDefined();
      expect(job!.id).toBe(deliveryId);
      expect(job!.data).toMatchObject({
        v: JOB_PAYLOAD_VERSION,
        deliveryId,
        notificationId,
        channel: 'email',
        lane: 'transactional',
        to: { email: 'both-up@example.test' },
      });
      expect(job!.opts.attempts).toBe(h.retry.attempts.transactional);
      expect(await redisKeys(`${h.prefix}:email.transactional:${deliveryId}`)).toEqual([
        `${h.prefix}:email.transactional:${deliveryId}`,
      ]);

      const delivery = await h.db.prisma.delivery.findUnique({ where: { id: deliveryId } });
      expect(delivery?.status).toBe('queued');
    });

    it('/readyz answers 200 with every check ok', async () => {
      const res = await request(h.app).get('/readyz').expect(200);
      expect(res.body).toEqual({
        status: 'ok',
        checks: { redis: 'ok', postgres: 'ok', schema: 'ok' },
      });
    });
  });
});

// API_RATE_LIMIT_PER_MINUTE: each caller's allowance of notifications, held
// in Redis across gateway processes, and per process while Redis is away.
import request from 'supertest';
import { closeQueues, createLaneQueues, createProducerConnection } from '@herald/core';
import {
  bearer,
  createHarness,
  startPrivateRedis,
  testToken,
  waitFor,
  type Harness,
} from '@herald/testkit';
import type { Redis } from 'ioredis';
import type { Queue } from 'bullmq';

const LIMIT = 5;
const body = (i: number) => ({
  to: { webhookUrl: `https://hooks.example.test/limit/${i}` },
  channels: ['webhook'],
  content: { webhook: { payload: { i } } },
});

describe('accept limit per caller (API_RATE_LIMIT_PER_MINUTE)', () => {
  let h: Harness;
  const appWith = (redis: Redis, queues: Map<string, Queue>, perMinute: number) =>
    h.appWith({ apiRateLimitPerMinute: perMinute }, { redis, queues });
  const notificationCount = async () =>
    (await h.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM notifications')).rows[0]!
      .n;

  beforeAll(async () => {
    h = await createHarness();
    // Counted in Redis once connected (before that, in memory).
    await waitFor(() => h.redis.status === 'ready', { what: 'the harness Redis connected' });
  });
  afterAll(async () => {
    await h.close();
  });

  it('holds each caller to its allowance, with a 429 saying when to retry; other callers go on', async () => {
    const app = appWith(h.redis, h.queues, LIMIT);
    const billing = testToken('notifications:write', 'limit-billing');
    const send = (token: string, i: number) =>
      request(app).post('/v1/notifications').set(bearer(token)).send(body(i));
    for (let i = 0; i < LIMIT; i++) await send(billing, i).expect(202);
    const before = await notificationCount();
    const refused = await send(billing, 99).expect(429);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.body).toMatchObject({ status: 429, title: 'Too many notifications' });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await notificationCount()).toBe(before);
    // A bad request is a 422, whatever the allowance: it costs nothing.
    await request(app)
      .post('/v1/notifications')
      .set(bearer(billing))
      .send({ channels: [] })
      .expect(422);
    await send(testToken('notifications:write', 'limit-shop'), 1).expect(202);
  });

  it('counts the acceptable items of a batch, and refuses a batch that would overrun', async () => {
    const app = appWith(h.redis, h.queues, LIMIT);
    const token = testToken('notifications:write', 'limit-batch');
    const batch = (items: object[]) =>
      request(app).post('/v1/notifications/batch').set(bearer(token)).send({ items });
    // Three good items and one bad: three of five used.
    const first = await batch([body(1), body(2), body(3), { channels: [] }]).expect(202);
    expect(first.body).toMatchObject({ accepted: 3, rejected: 1 });
    const before = await notificationCount();
    const over = await batch([body(4), body(5), body(6)]).expect(429);
    expect(over.body.status).toBe(429);
    expect(await notificationCount()).toBe(before);
  });

  it('a batch bigger than a whole minute’s allowance says so', async () => {
    const app = appWith(h.redis, h.queues, LIMIT);
    const res = await request(app)
      .post('/v1/notifications/batch')
      .set(bearer(testToken('notifications:write', 'limit-huge')))
      .send({ items: Array.from({ length: LIMIT + 1 }, (_, i) => body(i)) })
      .expect(429);
    expect(res.body.detail).toMatch(`holds ${LIMIT + 1} notifications`);
  });

  it('answers retries of accepted sends (Idempotency-Key) without counting or refusing them', async () => {
    const app = appWith(h.redis, h.queues, LIMIT);
    const token = testToken('notifications:write', 'limit-retries');
    const send = (key: string, i: number) =>
      request(app)
        .post('/v1/notifications')
        .set(bearer(token))
        .set('Idempotency-Key', key)
        .send(body(i));
    const first = await send('order-1', 1).expect(202);
    // Retried many times over (a client behind a flaky network): one notification, one unit.
    for (let i = 0; i < LIMIT + 2; i++)
      expect((await send('order-1', 1).expect(202)).body.id).toBe(first.body.id);
    for (let i = 2; i <= LIMIT; i++) await send(`order-${i}`, i).expect(202);
    // The allowance is spent on five sends; their retries are still answered.
    await send('order-6', 6).expect(429);
    expect((await send('order-1', 1).expect(202)).body.id).toBe(first.body.id);
    // A key reused with another body is still a conflict, not a replay.
    await send('order-1', 2).expect(409);
  });

  it('counts only the new items of a retried batch', async () => {
    const app = appWith(h.redis, h.queues, LIMIT);
    const token = testToken('notifications:write', 'limit-batch-retries');
    const batch = (key: string, items: object[]) =>
      request(app)
        .post('/v1/notifications/batch')
        .set(bearer(token))
        .set('Idempotency-Key', key)
        .send({ items });
    const first = await batch('import-1', [body(1), body(2), body(3), body(4)]).expect(202);
    expect(first.body.accepted).toBe(4);
    // The same batch again: all replayed, nothing counted.
    const again = await batch('import-1', [body(1), body(2), body(3), body(4)]).expect(202);
    expect(again.body.items.map((i: { id: string }) => i.id)).toEqual(
      first.body.items.map((i: { id: string }) => i.id),
    );
    // Grown by one item: four replayed, one new, and that one still fits the allowance.
    const grown = await batch('import-1', [body(1), body(2), body(3), body(4), body(5)]).expect(
      202,
    );
    expect(grown.body.accepted).toBe(5);
    await batch('import-2', [body(6)]).expect(429);
  });

  it('is shared by every gateway process (the count lives in Redis)', async () => {
    const one = appWith(h.redis, h.queues, LIMIT);
    const other = appWith(h.redis, h.queues, LIMIT);
    const token = testToken('notifications:write', 'limit-shared');
    for (let i = 0; i < LIMIT; i++)
      await request(i % 2 ? one : other)
        .post('/v1/notifications')
        .set(bearer(token))
        .send(body(i))
        .expect(202);
    await request(one).post('/v1/notifications').set(bearer(token)).send(body(9)).expect(429);
  });

  it('while Redis is away, accepts (into the outbox) and counts per process', async () => {
    const privateRedis = await startPrivateRedis();
    const redis = createProducerConnection(privateRedis.url);
    redis.on('error', () => {});
    const queues = createLaneQueues(redis, h.prefix);
    for (const queue of queues.values()) queue.on('error', () => {});
    const app = appWith(redis, queues, LIMIT);
    await waitFor(() => redis.status === 'ready', { what: 'the private Redis connected' });
    await privateRedis.stop();
    await waitFor(() => redis.status !== 'ready', { what: 'the connection to notice' });
    const token = testToken('notifications:write', 'limit-redis-down');
    for (let i = 0; i < LIMIT; i++)
      await request(app).post('/v1/notifications').set(bearer(token)).send(body(i)).expect(202);
    await request(app).post('/v1/notifications').set(bearer(token)).send(body(9)).expect(429);
    await closeQueues(queues.values()).catch(() => {});
    redis.disconnect();
  });

  it('is off by default: no allowance at all', async () => {
    const app = appWith(h.redis, h.queues, 0);
    const token = testToken('notifications:write', 'limit-off');
    for (let i = 0; i < LIMIT + 3; i++)
      await request(app).post('/v1/notifications').set(bearer(token)).send(body(i)).expect(202);
  });
});

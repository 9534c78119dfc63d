import { randomUUID } from 'node:crypto';
import pg from 'pg';
import request from 'supertest';
import { createApp } from '@herald/api';
import {
  closeQueues,
  createDeadLetterQueues,
  createLaneQueues,
  createProducerConnection,
  createRegistry,
} from '@herald/core';
import {
  claimOutbox,
  createDatabase,
  groupOutboxJobs,
  insertNotifications,
  OutboxAcknowledger,
  type AcceptedNotification,
  type ClaimedOutboxEntry,
  type Database,
  type UngroupedOutboxJob,
} from '@herald/db';
import { createOutboxGauges, createOutboxRelay } from '@herald/scheduler';
import {
  bearer,
  createHarness,
  FAST_RETRY,
  spawnService,
  TEST_REDIS_URL,
  testJwtConfig,
  testToken,
  uniqueQueuePrefix,
  waitFor,
  WebhookReceiver,
  type Harness,
  type ServiceProcess,
} from '@herald/testkit';

const SECRET = 'scheduler-test-signing-secret';
const writer = testToken('notifications:write notifications:read', 'scheduler-test');

// Real processes start slowly on a loaded 2-core machine: generous deadlines.
jest.setTimeout(120_000);

const webhookItem = (receiver: WebhookReceiver, path: string, sendAt?: number) => ({
  to: { webhookUrl: receiver.url(path) },
  channels: ['webhook'],
  content: { webhook: { payload: { path } } },
  ...(sendAt !== undefined ? { sendAt: new Date(sendAt).toISOString() } : {}),
});

/**
 * Writes `singles` single-delivery jobs and `batches` batch jobs of 50, all
 * due now, straight into the outbox (as the gateway does when Redis is away).
 */
async function seedOutbox(db: Database, singles: number, batches: number): Promise<void> {
  const items: AcceptedNotification[] = [];
  const entries: UngroupedOutboxJob[][] = [];
  for (let i = 0; i < singles + batches * 50; i++) {
    const id = randomUUID();
    const deliveryId = randomUUID();
    items.push({
      notification: {
        id,
        owner: 'claims',
        lane: 'transactional',
        strategy: 'all',
        channels: ['webhook'],
        dispatched: true,
        deliveries: [
          {
            id: deliveryId,
            channel: 'webhook',
            lane: 'transactional',
            position: 0,
            status: 'queued',
          },
        ],
      },
      outbox: [],
    });
    const entry = { deliveryId, queue: 'webhook.transactional', payload: { i } };
    if (i < singles || (i - singles) % 50 === 0) entries.push([entry]);
    else entries.at(-1)!.push(entry);
  }
  const rows = entries.flatMap((group) => groupOutboxJobs(group).rows);
  const rowOf = new Map(rows.map((r) => [r.deliveryId, r]));
  for (const item of items) item.outbox = [rowOf.get(item.notification.deliveries[0]!.id)!];
  await insertNotifications(db.pool, items);
}

describe('scheduler', () => {
  let h: Harness;
  let receiver: WebhookReceiver;
  const processes: ServiceProcess[] = [];
  const releases: (() => Promise<unknown>)[] = [];

  beforeEach(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    h = await createHarness();
  });

  afterEach(async () => {
    for (const p of processes.splice(0)) {
      p.kill('SIGKILL');
      await p.exited;
    }
    for (const release of releases.splice(0).reverse()) await release();
    await h.close();
    await receiver.stop();
  });

  const outboxCount = async () =>
    (await h.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox')).rows[0]!.n;
  const statusCounts = async () => {
    const { rows } = await h.db.pool.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM deliveries GROUP BY status',
    );
    return Object.fromEntries(rows.map((r) => [r.status, r.n])) as Record<string, number>;
  };

  it('two scheduler processes over the same due rows send each notification exactly once', async () => {
    const startScheduler = () => {
      const p = spawnService('scheduler', {
        DATABASE_URL: h.testDb.url,
        REDIS_URL: TEST_REDIS_URL,
        QUEUE_PREFIX: h.prefix,
        METRICS_PORT: '0',
        SCHEDULER_TICK_MS: '20',
        LOG_LEVEL: 'info',
      });
      processes.push(p);
      return p;
    };
    const schedulers = [startScheduler(), startScheduler()];
    await waitFor(() => schedulers.every((p) => p.output().includes('scheduler started')), {
      timeoutMs: 60_000,
      what: 'both schedulers to start',
    });
    h.startWebhookWorker({ signingSecret: SECRET, concurrency: 20 });

    // 300 due at the same instant, ~2 s after they are all accepted (that takes
    // about a second): 150 sent one by one (a job each) and 150 in one batch
    // request (grouped into batch jobs), while both schedulers poll.
    const sendAt = Date.now() + 3000;
    const paths = Array.from({ length: 300 }, (_, i) => `due-${i}`);
    for (let i = 0; i < 150; i += 50) {
      const responses = await Promise.all(
        paths.slice(i, i + 50).map((path) =>
          request(h.app)
            .post('/v1/notifications')
            .set(bearer(writer))
            .send(webhookItem(receiver, path, sendAt))
            .expect(202),
        ),
      );
      for (const res of responses) expect(res.body.status).toBe('scheduled');
    }
    const batch = await request(h.app)
      .post('/v1/notifications/batch')
      .set(bearer(writer))
      .send({ items: paths.slice(150).map((path) => webhookItem(receiver, path, sendAt)) })
      .expect(202);
    expect(batch.body).toMatchObject({ accepted: 150, rejected: 0 });
    expect(batch.body.items.every((r: { status: string }) => r.status === 'scheduled')).toBe(true);
    expect(Date.now()).toBeLessThan(sendAt); // every one was accepted as scheduled

    await waitFor(async () => (await statusCounts()).sent === 300, {
      timeoutMs: 30_000,
      what: '300 deliveries sent',
    });
    expect(paths.filter((p) => receiver.received(p) !== 1)).toEqual([]);
    expect(receiver.total).toBe(300);
    const earliest = Math.min(...paths.map((p) => receiver.requests(p)[0]!.at));
    expect(earliest).toBeGreaterThanOrEqual(sendAt - 20);
    expect(await outboxCount()).toBe(0);
    // No second copy of any job is waiting to run.
    const counts = await h.queues
      .get('webhook.transactional')!
      .getJobCounts('waiting', 'delayed', 'active', 'prioritized');
    expect(counts).toEqual({ waiting: 0, delayed: 0, active: 0, prioritized: 0 });

    for (const p of schedulers) p.kill('SIGTERM');
    for (const p of schedulers) expect((await p.exited).code).toBe(0);
  });

  it('claimOutbox from 5 pools at once over 1,000 due rows: disjoint claims, whole jobs, covering all', async () => {
    await seedOutbox(h.db, 500, 10);
    const pools = Array.from({ length: 5 }, () => createDatabase(h.testDb.url, { max: 2 }));
    releases.push(() => Promise.all(pools.map((p) => p.close())));
    await Promise.all(pools.map((p) => p.pool.query('SELECT 1')));

    const claims: ClaimedOutboxEntry[][] = pools.map(() => []);
    const total = () => claims.reduce((n, c) => n + c.length, 0);
    const deadline = Date.now() + 20_000;
    await Promise.all(
      pools.map(async ({ pool }, i) => {
        while (total() < 1000 && Date.now() < deadline) {
          const claimed = await claimOutbox(pool, {
            horizonMs: 0,
            graceMs: 0,
            leaseMs: 60_000,
            limit: 40,
          });
          claims[i]!.push(...claimed);
        }
      }),
    );

    const ids = claims.flat().map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length); // disjoint
    const { rows } = await h.db.pool.query<{ id: string }>('SELECT id FROM outbox');
    expect(ids.sort()).toEqual(rows.map((r) => r.id).sort()); // all of them
    expect(claims.filter((c) => c.length > 0).length).toBeGreaterThanOrEqual(2);
    // Each job's entries went to one claimer, all of them.
    const owners = new Map<string, Set<number>>();
    claims.forEach((c, i) => {
      for (const e of c) owners.set(e.jobId, (owners.get(e.jobId) ?? new Set()).add(i));
    });
    expect(owners.size).toBe(510);
    expect([...owners.values()].every((o) => o.size === 1)).toBe(true);
    for (const [jobId] of owners) {
      const size = claims.flat().filter((e) => e.jobId === jobId).length;
      expect(size).toBe(jobId.startsWith('b-') ? 50 : 1);
    }
    // All leased: nobody else gets anything until the lease runs out.
    expect(
      await claimOutbox(h.db.pool, { horizonMs: 0, graceMs: 0, leaseMs: 60_000, limit: 1000 }),
    ).toEqual([]);
  });

  it('a batch job cut by the relay batch size is claimed whole, so none of its deliveries is lost', async () => {
    // 60 scheduled in one request: a batch job of 50 and one of 10; the relay takes 30 entries a pass.
    const sendAt = Date.now() + 1500;
    const paths = Array.from({ length: 60 }, (_, i) => `cut-${i}`);
    await request(h.app)
      .post('/v1/notifications/batch')
      .set(bearer(writer))
      .send({ items: paths.map((path) => webhookItem(receiver, path, sendAt)) })
      .expect(202);
    const first = await claimOutbox(h.db.pool, {
      horizonMs: 60_000,
      graceMs: 0,
      leaseMs: 1,
      limit: 30,
    });
    expect(first).toHaveLength(50);
    expect(new Set(first.map((e) => e.jobId)).size).toBe(1);

    h.startWebhookWorker({ signingSecret: SECRET });
    h.startScheduler({ relay: { batchSize: 30 } });
    await waitFor(async () => (await statusCounts()).sent === 60, {
      timeoutMs: 15_000,
      what: '60 deliveries sent',
    });
    expect(paths.filter((p) => receiver.received(p) !== 1)).toEqual([]);
    expect(await outboxCount()).toBe(0);
  });

  it('the scheduler vacuums the outbox, so acknowledged entries do not pile up as dead rows', async () => {
    // This machine's Postgres runs without autovacuum; without the scheduler's own
    // vacuum every relay pass would scan every entry ever deleted.
    await seedOutbox(h.db, 0, 20);
    await h.db.pool.query('DELETE FROM outbox'); // the acknowledgements
    const outboxStats = async () =>
      (
        await h.db.pool.query<{ dead: number; vacuums: number }>(
          `SELECT n_dead_tup::int AS dead, vacuum_count::int AS vacuums
           FROM pg_stat_user_tables WHERE relname = 'outbox'`,
        )
      ).rows[0]!;
    await waitFor(async () => (await outboxStats()).dead >= 1000, {
      what: 'the deleted entries counted as dead rows',
    });
    expect((await outboxStats()).vacuums).toBe(0);

    h.startScheduler();
    await waitFor(
      async () => {
        const stats = await outboxStats();
        return stats.vacuums >= 1 && stats.dead === 0;
      },
      { what: 'the outbox vacuumed' },
    );
  });

  it('an acknowledgement lost after the job ran: the relay drops the entry and sends nothing twice', async () => {
    // The gateway enqueues to the real Redis, but its acknowledgements go to a
    // Postgres that never answers: the outbox entry outlives the job, as when
    // Postgres blinks or the gateway dies between the enqueue and the ack.
    const lostAcks = new pg.Pool({ host: '127.0.0.1', port: 1, connectionTimeoutMillis: 50 });
    lostAcks.on('error', () => {});
    const outboxAck = new OutboxAcknowledger(lostAcks);
    releases.push(async () => {
      await outboxAck.close();
      await lostAcks.end();
    });
    const app = createApp({
      config: {
        jwt: testJwtConfig,
        retry: FAST_RETRY,
        queuePrefix: h.prefix,
        publicUrl: 'http://herald.test',
      },
      db: h.db,
      redis: h.redis,
      queues: h.queues,
      deadLetterQueues: new Map(),
      outboxAck,
      registry: createRegistry('gateway-lost-ack-test', false),
      log: h.log,
    });
    const single = await request(app)
      .post('/v1/notifications')
      .set(bearer(writer))
      .send(webhookItem(receiver, 'lost-ack'))
      .expect(202);
    const batch = await request(app)
      .post('/v1/notifications/batch')
      .set(bearer(writer))
      .send({ items: [1, 2, 3].map((i) => webhookItem(receiver, `lost-ack-batch-${i}`)) })
      .expect(202);
    expect(batch.body.accepted).toBe(3);

    h.startWebhookWorker({ signingSecret: SECRET });
    await waitFor(async () => (await statusCounts()).sent === 4, {
      what: 'the four deliveries recorded sent',
    });
    // Every job ran and is gone from Redis; its entries are still here.
    expect(await outboxCount()).toBe(4);

    const relay = createOutboxRelay({
      pool: h.db.pool,
      queues: h.queues,
      retry: FAST_RETRY,
      log: h.log,
      options: { graceMs: 0 },
    });
    expect(await relay.runOnce()).toBe(0);
    expect(await outboxCount()).toBe(0);
    const counts = await h.queues.get('webhook.transactional')!.getJobCounts();
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
    expect(receiver.received('lost-ack')).toBe(1);
    for (const i of [1, 2, 3]) expect(receiver.received(`lost-ack-batch-${i}`)).toBe(1);
    expect(single.body.deliveries[0].status).toBe('queued');
  });

  it('the outbox gauges show what waits for Redis and for how long, and fall to zero once relayed', async () => {
    const registry = createRegistry('outbox-gauges-test', false);
    createOutboxGauges(registry, h.db.pool);
    const gauge = async (name: string, outbox: string) => {
      const text = await registry.metrics();
      const line = new RegExp(`^${name}\\{[^}]*outbox="${outbox}"[^}]*\\} (\\S+)$`, 'm').exec(text);
      return line ? Number(line[1]) : undefined;
    };
    expect(await gauge('herald_outbox_entries', 'notifications')).toBe(0);
    expect(await gauge('herald_outbox_oldest_age_seconds', 'notifications')).toBe(0);

    // Three jobs that did not reach Redis 90 s ago, and a scheduled send not yet due.
    await seedOutbox(h.db, 4, 0);
    await h.db.pool.query(
      `UPDATE outbox SET available_at = now() - interval '90 seconds', created_at = now() - interval '90 seconds'`,
    );
    await h.db.pool.query(
      `UPDATE outbox SET available_at = now() + interval '1 hour'
       WHERE id = (SELECT max(id) FROM outbox)`,
    );
    // A campaign page the fan-out wrote 30 s ago and Redis never confirmed.
    const campaign = await request(h.app)
      .post('/v1/campaigns')
      .set(bearer(testToken('campaigns:write', 'outbox-gauges')))
      .send({
        name: 'gauged',
        channels: ['webhook'],
        content: { webhook: { payload: {} } },
        audience: { all: true },
      })
      .expect(202);
    await h.db.pool.query(
      `INSERT INTO campaign_outbox (campaign_id, jobs, claimed_until, created_at)
       VALUES ($1, '[]', now() + interval '1 minute', now() - interval '30 seconds')`,
      [campaign.body.id],
    );

    expect(await gauge('herald_outbox_entries', 'notifications')).toBe(3);
    const age = (await gauge('herald_outbox_oldest_age_seconds', 'notifications'))!;
    expect(age).toBeGreaterThanOrEqual(90);
    expect(age).toBeLessThan(150);
    expect(await gauge('herald_outbox_entries', 'campaign_pages')).toBe(1);
    const pageAge = (await gauge('herald_outbox_oldest_age_seconds', 'campaign_pages'))!;
    expect(pageAge).toBeGreaterThanOrEqual(30);
    expect(pageAge).toBeLessThan(90);

    const relay = createOutboxRelay({
      pool: h.db.pool,
      queues: h.queues,
      retry: FAST_RETRY,
      log: h.log,
      options: { graceMs: 0, horizonMs: 0 },
    });
    expect(await relay.runOnce()).toBe(3);
    expect(await gauge('herald_outbox_entries', 'notifications')).toBe(0);
    expect(await gauge('herald_outbox_oldest_age_seconds', 'notifications')).toBe(0);
  });

  it('Redis unreachable at accept: 202, kept in the outbox, delivered once the relay runs', async () => {
    // The gateway as services/gateway composes it, with a producer connection that cannot connect.
    const deadRedis = createProducerConnection('redis://127.0.0.1:1', { disconnectTimeout: 50 });
    deadRedis.on('error', () => {});
    const deadPrefix = uniqueQueuePrefix();
    const queues = createLaneQueues(deadRedis, deadPrefix);
    const deadLetterQueues = createDeadLetterQueues(deadRedis, deadPrefix);
    const allQueues = [...queues.values(), ...deadLetterQueues.values()];
    for (const queue of allQueues) queue.on('error', () => {});
    const outboxAck = new OutboxAcknowledger(h.db.pool);
    releases.push(async () => {
      await outboxAck.close();
      await closeQueues(allQueues);
      deadRedis.disconnect();
    });
    const app = createApp({
      config: {
        jwt: testJwtConfig,
        retry: FAST_RETRY,
        queuePrefix: deadPrefix,
        publicUrl: 'http://herald.test',
      },
      db: h.db,
      redis: deadRedis,
      queues,
      deadLetterQueues,
      outboxAck,
      registry: createRegistry('gateway-redis-down-test', false),
      log: h.log,
    });

    const res = await request(app)
      .post('/v1/notifications')
      .set(bearer(writer))
      .send(webhookItem(receiver, 'while-redis-down'))
      .expect(202);
    expect(res.body).toMatchObject({ status: 'queued', deliveries: [{ status: 'queued' }] });
    const deliveryId: string = res.body.deliveries[0].id;
    const { rows } = await h.db.pool.query<{ job_id: string; queue: string }>(
      'SELECT job_id, queue FROM outbox WHERE delivery_id = $1',
      [deliveryId],
    );
    expect(rows).toEqual([{ job_id: deliveryId, queue: 'webhook.transactional' }]);
    expect(await h.queues.get('webhook.transactional')!.count()).toBe(0);

    h.startScheduler({ relay: { graceMs: 0 } });
    h.startWebhookWorker({ signingSecret: SECRET });
    const [arrival] = await receiver.waitFor('while-redis-down', 1, 10_000);
    expect(arrival!.body).toMatchObject({ notificationId: res.body.id });
    await waitFor(async () => (await statusCounts()).sent === 1, {
      what: 'the delivery to be recorded sent',
    });
    expect(await outboxCount()).toBe(0);
    expect(receiver.received('while-redis-down')).toBe(1);
  });
});

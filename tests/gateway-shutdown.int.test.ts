// How the gateway service (as `pnpm start` runs it) stops with requests in
// flight, against the real Redis and Postgres: every request it holds is
// answered, and the jobs of what it accepted reach Redis before it lets go of
// it (the outbox relay would enqueue them too, but only later, and only with
// a scheduler running). A lock on the notifications table keeps a request in
// flight while the process is told to stop.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { laneQueueName } from '@herald/core';
import {
  createTestDatabase,
  deleteKeysWithPrefix,
  TEST_REDIS_URL,
  uniqueQueuePrefix,
  waitFor,
  type TestDatabase,
} from '@herald/testkit';
import {
  alive,
  call,
  childPids,
  gatewayListening,
  holdNotificationInserts,
  logLines,
  notification,
  spawnGateway,
} from './support/gateway-process';

describe('the gateway stopping with a request in flight', () => {
  let testDb: TestDatabase;
  let redis: Redis;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  });

  afterAll(async () => {
    redis?.disconnect();
    await testDb?.drop();
  });

  /** Accepted, stored, and its job in Redis (nothing left to the relay). */
  async function expectEnqueued(prefix: string, answer: { status: number; text: string }) {
    expect(answer.status).toBe(202);
    const { id, deliveries } = JSON.parse(answer.text) as {
      id: string;
      deliveries: { id: string }[];
    };
    const stored = await testDb.db.pool.query('SELECT 1 FROM notifications WHERE id = $1', [id]);
    expect(stored.rowCount).toBe(1);
    const queue = new Queue(laneQueueName('webhook', 'transactional'), {
      connection: redis,
      prefix,
    });
    try {
      expect(await queue.getJob(deliveries[0]!.id)).toBeDefined();
    } finally {
      await queue.close();
    }
    const outbox = await testDb.db.pool.query('SELECT 1 FROM outbox WHERE delivery_id = $1', [
      deliveries[0]!.id,
    ]);
    expect(outbox.rowCount).toBe(0);
  }

  it('SIGTERM: answers the request, enqueues its job, then exits 0', async () => {
    const prefix = uniqueQueuePrefix();
    const gateway = spawnGateway({ DATABASE_URL: testDb.url, QUEUE_PREFIX: prefix });
    const held = await holdNotificationInserts(testDb.url);
    try {
      const port = await gatewayListening(gateway, 1);
      const inFlight = call(port, 'POST', '/v1/notifications', notification(1));
      await held.waiting();
      gateway.kill('SIGTERM');
      await waitFor(() => logLines(gateway).some((l) => l.msg === 'shutting down'), {
        what: 'the gateway to start shutting down',
      });
      await held.release();
      const answer = await inFlight;
      expect((await gateway.exited).code).toBe(0);
      await expectEnqueued(prefix, answer);
    } finally {
      gateway.kill('SIGKILL');
      await held.release();
      await deleteKeysWithPrefix(prefix);
    }
  }, 120_000);

  it('GATEWAY_PROCESSES=2, primary killed: each process answers what it holds, enqueues, then exits', async () => {
    const prefix = uniqueQueuePrefix();
    const gateway = spawnGateway({
      DATABASE_URL: testDb.url,
      QUEUE_PREFIX: prefix,
      GATEWAY_PROCESSES: '2',
    });
    const held = await holdNotificationInserts(testDb.url);
    let workers: number[] = [];
    try {
      const port = await gatewayListening(gateway, 2);
      workers = childPids(gateway.child.pid!);
      expect(workers).toHaveLength(2);
      const inFlight = call(port, 'POST', '/v1/notifications', notification(2));
      await held.waiting();

      gateway.kill('SIGKILL');
      await gateway.exited;
      // Orphaned now: node:cluster alone would have ended both at once.
      await waitFor(
        () =>
          logLines(gateway).filter(
            (l) => l.msg === 'the primary process is gone; draining, then exiting',
          ).length === 2,
        { what: 'both processes to notice the primary is gone' },
      );
      expect(workers.every(alive)).toBe(true);
      await held.release();

      const answer = await inFlight;
      await waitFor(() => !workers.some(alive), { what: 'both processes to exit after draining' });
      await expectEnqueued(prefix, answer);
    } finally {
      for (const pid of workers.filter(alive)) process.kill(pid, 'SIGKILL');
      await held.release();
      await deleteKeysWithPrefix(prefix);
    }
  }, 120_000);
});

// herald_queue_jobs and herald_queue_oldest_job_age_seconds read from real
// BullMQ queues in Redis, as the scheduler and the workers export them: the
// age is that of the job the workers take next, counted from when it became
// ready to run.
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import {
  allLaneQueues,
  closeQueues,
  createDeadLetterQueues,
  createLaneQueues,
  createQueueGauges,
  createRegistry,
  createWorkerConnection,
  queueGaugeCollectors,
  type Redis,
} from '@herald/core';
import request from 'supertest';
import {
  bearer,
  createHarness,
  deleteKeysWithPrefix,
  TEST_REDIS_URL,
  testToken,
  uniqueQueuePrefix,
  waitFor,
  WebhookReceiver,
} from '@herald/testkit';
import { delayActiveJob } from '@herald/worker-kit';

describe('queue gauges', () => {
  let redis: Redis;
  let prefix: string;
  let queues: Map<string, Queue>;
  let dlqs: Map<string, Queue>;
  let registry: ReturnType<typeof createRegistry>;
  const workers: { worker: Worker; connection: Redis }[] = [];

  beforeEach(() => {
    redis = createWorkerConnection(TEST_REDIS_URL);
    prefix = uniqueQueuePrefix();
    queues = createLaneQueues(redis, prefix);
    const deadLetters = createDeadLetterQueues(redis, prefix);
    dlqs = deadLetters;
    registry = createRegistry('queue-gauges-test', false);
    createQueueGauges(registry, queueGaugeCollectors(queues.values(), deadLetters));
  });

  afterEach(async () => {
    for (const { worker, connection } of workers.splice(0)) {
      await worker.close(true);
      await connection.quit();
    }
    await closeQueues([...queues.values(), ...dlqs.values()]);
    await deleteKeysWithPrefix(prefix);
    await redis.quit();
  });

  /** What one scrape reports, per queue. */
  async function scrape() {
    const text = await registry.metrics();
    const age = new Map<string, number>();
    const waiting = new Map<string, number>();
    for (const [, name, queue, state, value] of text.matchAll(
      /^(herald_queue_oldest_job_age_seconds|herald_queue_jobs)\{queue="([^"]+)"(?:,state="([^"]+)")?[^}]*\} (\S+)$/gm,
    )) {
      if (name === 'herald_queue_oldest_job_age_seconds') age.set(queue!, Number(value));
      else if (state === 'waiting') waiting.set(queue!, Number(value));
    }
    return { age, waiting };
  }

  const add = (queue: string, id: string, opts: { timestamp?: number; delay?: number } = {}) =>
    queues.get(queue)!.add('delivery', { id }, { jobId: id, ...opts });

  it('reports 0 for every lane queue when nothing waits', async () => {
    const { age, waiting } = await scrape();
    expect([...age.keys()].sort()).toEqual(
      allLaneQueues()
        .map((l) => l.name)
        .sort(),
    );
    expect([...age.values()].every((v) => v === 0)).toBe(true);
    expect([...waiting.values()].every((v) => v === 0)).toBe(true);
  });

  it('is the age of the oldest waiting job (the next one taken), per lane', async () => {
    const before = Date.now();
    await add('email.transactional', 'old', { timestamp: before - 90_000 });
    await add('email.transactional', 'new', { timestamp: before - 10_000 });
    await add('webhook.campaign', 'campaign', { timestamp: before - 30_000 });
    const { age, waiting } = await scrape();
    const elapsed = (Date.now() - before) / 1000;
    expect(waiting.get('email.transactional')).toBe(2);
    expect(age.get('email.transactional')).toBeGreaterThanOrEqual(90);
    expect(age.get('email.transactional')).toBeLessThanOrEqual(90 + elapsed);
    expect(age.get('webhook.campaign')).toBeGreaterThanOrEqual(30);
    expect(age.get('webhook.campaign')).toBeLessThanOrEqual(30 + elapsed);
    expect(age.get('email.campaign')).toBe(0);
    expect(age.get('webhook.transactional')).toBe(0);
  });

  it('counts a job created with a delay (a throttled campaign batch) from the end of its delay', async () => {
    const before = Date.now();
    // Created 100 s ago to run 40 s later: ready for the last 60 s.
    await add('push.campaign', 'paced', { timestamp: before - 100_000, delay: 40_000 });
    expect((await scrape()).age.get('push.campaign')).toBe(0); // delayed, not waiting
    await queues.get('push.campaign')!.promoteJobs();
    const { age } = await scrape();
    const elapsed = (Date.now() - before) / 1000;
    expect(age.get('push.campaign')).toBeGreaterThanOrEqual(60);
    expect(age.get('push.campaign')).toBeLessThanOrEqual(60 + elapsed);
  });

  it('counts a job tried before from its last attempt, not from its creation', async () => {
    // As an open circuit does: the lane is paused and the job goes back to
    // wait without spending an attempt.
    const queue = queues.get('telegram.transactional')!;
    await add('telegram.transactional', 'bounced', { timestamp: Date.now() - 300_000 });
    expect((await scrape()).age.get('telegram.transactional')).toBeGreaterThanOrEqual(300);
    const connection = createWorkerConnection(TEST_REDIS_URL);
    const worker: Worker = new Worker(
      queue.name,
      async (): Promise<void> => {
        await queue.rateLimit(60_000);
        throw Worker.RateLimitError();
      },
      {
        connection,
        prefix,
        limiter: { max: 1e6, duration: 1000 },
      },
    );
    workers.push({ worker, connection });
    const fetchedAt = Date.now();
    await waitFor(
      async () =>
        (await queue.getWaitingCount()) === 1 &&
        Number(await redis.hget(queue.toKey('bounced'), 'processedOn')) > 0,
      { what: 'the job back in wait after its attempt' },
    );
    const { age, waiting } = await scrape();
    expect(waiting.get('telegram.transactional')).toBe(1);
    expect(age.get('telegram.transactional')).toBeLessThanOrEqual(
      (Date.now() - fetchedAt) / 1000 + 1,
    );
  });

  it('counts a job a worker put back in the delayed set (a throttle slot, a busy address) from when it was due again', async () => {
    const queue = queues.get('webhook.campaign')!;
    await add('webhook.campaign', 'deferred', { timestamp: Date.now() - 300_000 });
    const connection = createWorkerConnection(TEST_REDIS_URL);
    let dueAt = 0;
    const worker: Worker = new Worker(
      queue.name,
      async (job: Job, token?: string): Promise<void> => {
        dueAt = Date.now() + 1500;
        await delayActiveJob(queue, job, dueAt, token);
        throw new DelayedError();
      },
      { connection, prefix },
    );
    await waitFor(async () => (await queue.getDelayedCount()) === 1, {
      what: 'the job waiting in the delayed set',
    });
    await worker.close();
    await connection.quit();
    // Past its time; promoted, it waits for a worker again.
    await waitFor(() => Date.now() >= dueAt + 1000, { what: 'the wait to be over' });
    await (await queue.getJob('deferred'))!.promote();
    const { age, waiting } = await scrape();
    expect(waiting.get('webhook.campaign')).toBe(1);
    // From when it was due (1 s and a little ago), not from its attempt (2.5 s) or creation (300 s).
    expect(age.get('webhook.campaign')).toBeGreaterThanOrEqual(1);
    expect(age.get('webhook.campaign')).toBeLessThanOrEqual((Date.now() - dueAt) / 1000 + 0.5);
  });

  it('grows while the next job waits, and drops to 0 once the lane is empty', async () => {
    await add('webhook.transactional', 'waits', { timestamp: Date.now() - 5_000 });
    const first = (await scrape()).age.get('webhook.transactional')!;
    expect(first).toBeGreaterThanOrEqual(5);
    const later = await waitFor(
      async () => {
        const value = (await scrape()).age.get('webhook.transactional')!;
        return value > first ? value : undefined;
      },
      { what: 'the age to grow' },
    );
    expect(later).toBeGreaterThan(first);
    await queues.get('webhook.transactional')!.drain();
    expect((await scrape()).age.get('webhook.transactional')).toBe(0);
  });
});

describe('queue age of a delivery retried after a backoff', () => {
  const SECRET = 'gauge-retry-signing-secret';

  it('counts from the end of its backoff, not from its failed attempt', async () => {
    const receiver = await new WebhookReceiver({ secret: SECRET }).start();
    const h = await createHarness();
    try {
      // The first try is refused with Retry-After: 2, so the backoff is 2 s and a little.
      receiver.behave('retry-later', { kind: 'status', status: 503, times: 1, retryAfter: 2 });
      const registry = createRegistry('queue-gauges-retry-test', false);
      createQueueGauges(registry, queueGaugeCollectors(h.queues.values(), new Map()));
      const worker = h.startWebhookWorker({ signingSecret: SECRET });
      const res = await request(h.app)
        .post('/v1/notifications')
        .set(bearer(testToken('notifications:write', 'gauges')))
        .send({
          to: { webhookUrl: receiver.url('retry-later') },
          channels: ['webhook'],
          content: { webhook: { payload: { n: 1 } } },
        })
        .expect(202);
      const deliveryId = res.body.deliveries[0].id as string;
      const queue = h.queues.get('webhook.transactional')!;
      const job = await waitFor(
        async () => {
          const [delayed] = await queue.getDelayed();
          return delayed?.data.deliveryId === deliveryId ? delayed : undefined;
        },
        { what: 'the refused delivery waiting out its backoff' },
      );
      // Nobody takes it when it is due: it is promoted and then waits, as behind a busy lane.
      await Promise.all(worker.workers.map((w) => w.pause()));
      // BullMQ scores a delayed job by when it is due (ms, shifted 12 bits for a counter).
      const dueAt = Math.floor(Number(await h.redis.zscore(queue.keys.delayed!, job.id!)) / 0x1000);
      const processedOn = Number(await h.redis.hget(queue.toKey(job.id!), 'processedOn'));
      expect(dueAt - processedOn).toBeGreaterThanOrEqual(2000);
      await waitFor(() => Date.now() >= dueAt + 1000, { what: 'the backoff to be over' });
      await job.promote();

      const text = await registry.metrics();
      const age = Number(
        /herald_queue_oldest_job_age_seconds\{queue="webhook.transactional"[^}]*\} (\S+)/.exec(
          text,
        )?.[1],
      );
      // From when it was due (1 s and a little ago), not from its attempt (3 s and more ago).
      expect(age).toBeGreaterThanOrEqual(1);
      expect(age).toBeLessThanOrEqual((Date.now() - dueAt) / 1000 + 0.5);
      expect(age).toBeLessThan((Date.now() - processedOn) / 1000 - 1.5);
    } finally {
      await h.close();
      await receiver.stop();
    }
  });
});

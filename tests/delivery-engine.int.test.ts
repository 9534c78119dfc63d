import { UnrecoverableError, Worker } from 'bullmq';
import request from 'supertest';
import { createWorkerConnection } from '@herald/core';
import { PAUSE_ONLY_LIMITER } from '@herald/worker-kit';
import {
  bearer,
  createHarness,
  TEST_REDIS_URL,
  testToken,
  waitFor,
  WebhookReceiver,
  type Harness,
} from '@herald/testkit';

const SECRET = 'engine-test-signing-secret';
const writer = testToken('notifications:write notifications:read', 'engine');
const admin = testToken('admin', 'engine-ops');

jest.setTimeout(60_000);

describe('delivery engine (webhook channel)', () => {
  let h: Harness;
  let receiver: WebhookReceiver;

  beforeEach(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    h = await createHarness();
  });

  afterEach(async () => {
    await h.close();
    await receiver.stop();
  });

  async function send(path: string, lane: 'transactional' | 'campaign' = 'transactional') {
    const res = await request(h.app)
      .post('/v1/notifications')
      .set(bearer(writer))
      .send({
        to: { webhookUrl: receiver.url(path) },
        channels: ['webhook'],
        lane,
        content: { webhook: { payload: { path } } },
      })
      .expect(202);
    return { id: res.body.id as string, deliveryId: res.body.deliveries[0].id as string };
  }

  /**
   * A bare BullMQ worker takes the next job of a lane and fails it outside
   * our processor, as a lost lock or too many stalls would.
   */
  async function failOutsideProcessor(queueName: string) {
    const connection = createWorkerConnection(TEST_REDIS_URL);
    const bare = new Worker(queueName, null, { connection, prefix: h.prefix, autorun: false });
    const job = await bare.getNextJob('sweep-test');
    await job?.moveToFailed(new UnrecoverableError('lock lost'), 'sweep-test');
    await bare.close();
    await connection.quit();
    return job;
  }

  const circuitState = async () =>
    (await h.workerMetrics.circuitState.get()).values.find((v) => v.labels.channel === 'webhook')
      ?.value;

  const notification = async (id: string) =>
    (await request(h.app).get(`/v1/notifications/${id}`).set(bearer(writer)).expect(200)).body;

  const statusCounts = async () => {
    const { rows } = await h.db.pool.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM deliveries GROUP BY status',
    );
    return Object.fromEntries(rows.map((r) => [r.status, r.n])) as Record<string, number>;
  };

  it('a 5xx storm opens the breaker: the peer stops being called, no attempts are spent, nothing is dead-lettered, and all are delivered after recovery', async () => {
    receiver.failAll(503);
    const states: string[] = [];
    h.startWebhookWorker({
      signingSecret: SECRET,
      concurrency: 5,
      breaker: { errorPercent: 50, volume: 10, windowMs: 10_000, resetMs: 1500 },
    });
    const circuit = h.workerMetrics.circuitState;
    const sent = await Promise.all(Array.from({ length: 60 }, (_, i) => send(`storm-${i}`)));

    await waitFor(
      async () =>
        (await circuit.get()).values.find((v) => v.labels.channel === 'webhook')?.value === 2,
      {
        what: 'the circuit to open',
      },
    );
    states.push('open');
    const callsWhenOpened = receiver.total;
    // While open, the half-open probe is the only call that gets through, and it fails again.
    await waitFor(() => receiver.total > callsWhenOpened, {
      what: 'the half-open probe',
      timeoutMs: 10_000,
    });
    await waitFor(async () => (await circuit.get()).values[0]?.value === 2, {
      what: 'the circuit to reopen',
    });
    expect(receiver.total).toBeLessThanOrEqual(callsWhenOpened + 5);

    // Deliveries that never reached the peer spent no attempt; none failed or was dead-lettered.
    const untouched = await h.db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM deliveries WHERE attempts_count = 0 AND status IN ('queued', 'sending')",
    );
    expect(untouched.rows[0]!.n).toBeGreaterThan(30);
    expect((await statusCounts()).failed ?? 0).toBe(0);
    expect(await h.dlq('webhook').getWaitingCount()).toBe(0);

    receiver.failAll(undefined);
    await waitFor(async () => (await statusCounts()).sent === 60, {
      what: 'all 60 sent after recovery',
      timeoutMs: 30_000,
    });
    expect(await h.dlq('webhook').getWaitingCount()).toBe(0);
    await waitFor(async () => (await circuit.get()).values[0]?.value === 0, {
      what: 'the circuit to close',
    });
    for (const { deliveryId } of sent) {
      expect(
        receiver
          .requests(`storm-${sent.findIndex((s) => s.deliveryId === deliveryId)}`)
          .some((r) => r.status === 200),
      ).toBe(true);
    }
  });

  it('an open breaker pauses the lanes for every replica: a second worker on the same queues fetches nothing until the probe', async () => {
    receiver.failAll(503);
    h.startWebhookWorker({
      signingSecret: SECRET,
      concurrency: 5,
      breaker: { errorPercent: 50, volume: 5, windowMs: 10_000, resetMs: 4000 },
    });
    await Promise.all(Array.from({ length: 10 }, (_, i) => send(`fleet-${i}`)));
    await waitFor(async () => (await circuitState()) === 2, { what: 'the circuit to open' });
    const lanes = [h.queues.get('webhook.transactional')!, h.queues.get('webhook.campaign')!];
    // Calls already on the wire when it opened still land: count from once they have.
    await waitFor(
      async () => (await Promise.all(lanes.map((q) => q.getActiveCount()))).every((n) => n === 0),
      { what: 'the calls in flight to finish' },
    );
    const callsWhenOpened = receiver.total;

    // A second replica: its own breaker is closed, and work waits on both lanes.
    const replica = h.startWebhookWorker({ signingSecret: SECRET, concurrency: 5 });
    let fetchedByReplica = 0;
    for (const w of replica.workers) w.on('active', () => fetchedByReplica++);
    await send('fleet-late');
    await send('fleet-late-campaign', 'campaign');
    for (const q of lanes)
      expect(await q.getRateLimitTtl(PAUSE_ONLY_LIMITER.max)).toBeGreaterThan(1000);

    // Until the pause runs out, the replica takes nothing and the peer hears nothing.
    let fetchedWhilePaused = 0;
    let callsWhilePaused = 0;
    await waitFor(
      async () => {
        const ttl = Math.max(
          ...(await Promise.all(lanes.map((q) => q.getRateLimitTtl(PAUSE_ONLY_LIMITER.max)))),
        );
        if (ttl > 200) {
          fetchedWhilePaused = fetchedByReplica;
          callsWhilePaused = receiver.total - callsWhenOpened;
        }
        return ttl <= 200;
      },
      { what: 'the pause to run out', timeoutMs: 10_000 },
    );
    expect(replica.workers.every((w) => w.isRunning())).toBe(true);
    expect(fetchedWhilePaused).toBe(0);
    expect(callsWhilePaused).toBe(0);
    // Then the lanes open again: the replica was idle only because of the pause.
    receiver.failAll(undefined);
    await receiver.waitFor('fleet-late', 1, 10_000);
    await receiver.waitFor('fleet-late-campaign', 1, 10_000);
  });

  it('permanent errors do not count toward the breaker: 30 deliveries answered 400 leave it closed', async () => {
    receiver.failAll(400);
    h.startWebhookWorker({ signingSecret: SECRET, concurrency: 10 }); // 50 % of 20 calls in 10 s
    await Promise.all(Array.from({ length: 30 }, (_, i) => send(`refused-${i}`)));
    await waitFor(async () => (await h.dlq('webhook').getWaitingCount()) === 30, {
      what: 'all 30 dead-lettered',
    });
    expect(receiver.total).toBe(30);
    expect((await statusCounts()).failed).toBe(30);
    expect(await circuitState()).toBe(0);
    expect(
      await h.queues.get('webhook.transactional')!.getRateLimitTtl(PAUSE_ONLY_LIMITER.max),
    ).toBeLessThanOrEqual(0);
  });

  it('sweeps a job left in a lane’s failed set into the DLQ and marks its delivery failed', async () => {
    const { id, deliveryId } = await send('swept');
    const queue = h.queues.get('webhook.transactional')!;
    const job = await failOutsideProcessor(queue.name);
    expect(job?.id).toBe(deliveryId);
    expect(await queue.getFailedCount()).toBe(1);

    h.startWebhookWorker({ signingSecret: SECRET, sweepIntervalMs: 100 });
    const dead = await waitFor(() => h.dlq('webhook').getJob(deliveryId), {
      what: 'the swept dead letter',
    });
    expect(dead.data).toMatchObject({
      deliveryId,
      queue: 'webhook.transactional',
      reason: expect.stringMatching(/^failed outside the processor: lock lost/),
      job: expect.objectContaining({ deliveryId }),
    });
    const n = await waitFor(async () => {
      const v = await notification(id);
      return v.status === 'failed' ? v : undefined;
    });
    expect(n.deliveries[0].reason).toMatch(/lock lost/);
    expect(await queue.getFailedCount()).toBe(0);
    expect(receiver.total).toBe(0);
  });

  it('sweeps a failed batch job into one dead letter per member, each a whole payload', async () => {
    const res = await request(h.app)
      .post('/v1/notifications/batch')
      .set(bearer(writer))
      .send({
        items: ['swept-a', 'swept-b'].map((path) => ({
          to: { webhookUrl: receiver.url(path) },
          channels: ['webhook'],
          content: { webhook: { payload: { path } } },
        })),
      })
      .expect(202);
    const deliveryIds = (res.body.items as { deliveries: { id: string }[] }[]).map(
      (i) => i.deliveries[0]!.id,
    );
    const queue = h.queues.get('webhook.transactional')!;
    const job = await failOutsideProcessor(queue.name);
    // What the members have alike is stored once, in the batch.
    expect(job?.data).toMatchObject({ kind: 'batch', shared: { channel: 'webhook', v: 1 } });

    h.startWebhookWorker({ signingSecret: SECRET, sweepIntervalMs: 100 });
    for (const [i, deliveryId] of deliveryIds.entries()) {
      const dead = await waitFor(() => h.dlq('webhook').getJob(deliveryId), {
        what: `the dead letter of member ${i}`,
      });
      expect(dead.data.job).toMatchObject({
        v: 1,
        deliveryId,
        channel: 'webhook',
        lane: 'transactional',
        content: { payload: { path: ['swept-a', 'swept-b'][i] } },
      });
    }
    expect(receiver.total).toBe(0);
  });

  it('redriven deliveries whose transient retries ran out get fresh attempts and keep their history', async () => {
    // Five attempts fail; after the redrive four more fail and the fifth succeeds:
    // only a full fresh set of five attempts gets there.
    const paths = ['again', 'again-b1', 'again-b2'];
    for (const path of paths) receiver.behave(path, { kind: 'status', status: 500, times: 9 });
    // 30 failures in all: a breaker that would open on them is not what this is about.
    h.startWebhookWorker({
      signingSecret: SECRET,
      breaker: { errorPercent: 50, volume: 1000, windowMs: 10_000, resetMs: 30_000 },
    });
    // One single send, and two that travel as a batch job (whose retries carry their count).
    const single = await send('again');
    const batch = await request(h.app)
      .post('/v1/notifications/batch')
      .set(bearer(writer))
      .send({
        items: ['again-b1', 'again-b2'].map((path) => ({
          to: { webhookUrl: receiver.url(path) },
          channels: ['webhook'],
          content: { webhook: { payload: { path } } },
        })),
      })
      .expect(202);
    const sent = [
      single,
      ...batch.body.items.map((i: { id: string; deliveries: { id: string }[] }) => ({
        id: i.id,
        deliveryId: i.deliveries[0]!.id,
      })),
    ];
    const dead = await Promise.all(
      sent.map(({ deliveryId }) =>
        waitFor(() => h.dlq('webhook').getJob(deliveryId), { what: 'the dead letters' }),
      ),
    );
    // A batch member's retry carries the attempts it spent in the batch.
    expect(dead[1]!.data.job.priorAttempts).toBe(1);
    expect(dead.map((d) => d!.data.attemptsMade)).toEqual([5, 5, 5]);
    for (const path of paths) expect(receiver.requests(path)).toHaveLength(5);

    const redrive = await request(h.app)
      .post('/v1/dlq/redrive')
      .set(bearer(admin))
      .send({ channel: 'webhook' })
      .expect(202);
    expect(redrive.body.redriven).toBe(3);
    for (const [i, { id }] of sent.entries()) {
      const n = await waitFor(
        async () => {
          const v = await notification(id);
          return v.status === 'sent' ? v : undefined;
        },
        { what: `redriven delivery ${i} to be sent`, timeoutMs: 15_000 },
      );
      expect(receiver.requests(paths[i]!).map((r) => r.status)).toEqual([
        ...Array(9).fill(500),
        200,
      ]);
      // The five attempts before the redrive, then the redrive's five, numbered on.
      expect(n.deliveries[0].attempts.map((a: { outcome: string }) => a.outcome)).toEqual([
        ...Array(9).fill('transient_error'),
        'sent',
      ]);
      expect(n.deliveries[0].attempts.map((a: { attempt: number }) => a.attempt)).toEqual([
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
      ]);
      expect(n.deliveries[0].attemptsCount).toBe(10);
    }
    expect(await h.dlq('webhook').getWaitingCount()).toBe(0);
  });

  it('transactional deliveries start within 1 s while thousands of campaign jobs wait', async () => {
    // A slow receiver keeps the campaign backlog from draining during the test.
    receiver.behave('bulk', { kind: 'slow', ms: 20 });
    const campaign = await Promise.all(Array.from({ length: 50 }, () => send('bulk', 'campaign')));
    // Bulk the backlog up straight into the campaign lane: 4,000 more jobs.
    const queue = h.queues.get('webhook.campaign')!;
    const template = (await queue.getJob(campaign[0]!.deliveryId))!.data as Record<string, unknown>;
    for (let i = 0; i < 4000; i += 1000) {
      await queue.addBulk(
        Array.from({ length: 1000 }, (_, j) => ({
          name: 'deliver',
          data: {
            ...template,
            deliveryId: `00000000-0000-4000-8000-${String(i + j).padStart(12, '0')}`,
          },
          opts: { jobId: `bulk-${i + j}`, removeOnComplete: true, attempts: 1 },
        })),
      );
    }
    h.startWebhookWorker({ signingSecret: SECRET, concurrency: 10 });
    await waitFor(() => receiver.received('bulk') > 20, { what: 'the campaign to be under way' });

    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = Date.now();
      await send(`tx-${i}`);
      await receiver.waitFor(`tx-${i}`, 1, 5000);
      latencies.push(Date.now() - started);
    }
    latencies.sort((a, b) => a - b);
    expect(latencies[latencies.length - 1]).toBeLessThan(1000);
    expect(await queue.getWaitingCount()).toBeGreaterThan(1000);
  });

  it('two replicas together respect the channel rate, measured at the receiver', async () => {
    const rate = 40;
    h.startWebhookWorker({ signingSecret: SECRET, concurrency: 20, ratePerSecond: rate });
    h.startWebhookWorker({ signingSecret: SECRET, concurrency: 20, ratePerSecond: rate });
    await Promise.all(Array.from({ length: 200 }, () => send('rated')));
    const all = await receiver.waitFor('rated', 200, 30_000);
    const times = all.map((r) => r.at).sort((a, b) => a - b);
    // Token bucket: a burst of `rate`, then `rate` per second.
    const elapsed = (times[times.length - 1]! - times[0]!) / 1000;
    expect(elapsed).toBeGreaterThanOrEqual((200 - rate) / rate - 0.5);
    let maxInWindow = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= 1000) j++;
      maxInWindow = Math.max(maxInWindow, i - j + 1);
    }
    // A burst of `rate` tokens plus a second's refill, give or take one at the window's edges.
    expect(maxInWindow).toBeLessThanOrEqual(2 * rate + 2);
    process.stdout.write(
      `rate test: 200 deliveries in ${elapsed.toFixed(2)} s, max ${maxInWindow} in any 1 s window\n`,
    );
  });

  it('a campaign lane short of the shared provider budget waits alone: transactional keeps starting promptly, and both lanes together hold the rate', async () => {
    const rate = 20;
    // A campaign backlog far larger than the test can drain at 20/s.
    const first = await send('budget-bulk', 'campaign');
    const campaignQueue = h.queues.get('webhook.campaign')!;
    const template = (await campaignQueue.getJob(first.deliveryId))!.data as Record<
      string,
      unknown
    >;
    await campaignQueue.addBulk(
      Array.from({ length: 400 }, (_, i) => ({
        name: 'deliver',
        data: { ...template, deliveryId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` },
        opts: { jobId: `budget-bulk-${i}`, removeOnComplete: true, attempts: 1 },
      })),
    );
    h.startWebhookWorker({ signingSecret: SECRET, concurrency: 10, ratePerSecond: rate });
    // The campaign has drained the bucket's burst: the budget is short from here on.
    await waitFor(() => receiver.received('budget-bulk') >= rate, {
      what: 'the campaign to use up the burst',
    });

    // Rounds of three transactional sends at once. Before each, the campaign
    // has had a second's worth of the budget: transactional demand has
    // lapsed, so the campaign lane meets its floor again as the round starts.
    const latencies: number[] = [];
    const txPaths: string[] = [];
    for (let round = 0; round < 5; round++) {
      const before = receiver.received('budget-bulk');
      await waitFor(() => receiver.received('budget-bulk') >= before + rate, {
        what: 'a second of campaign traffic',
      });
      const paths = [0, 1, 2].map((i) => `budget-tx-${round}-${i}`);
      txPaths.push(...paths);
      const started = Date.now();
      await Promise.all(paths.map((path) => send(path)));
      for (const path of paths) {
        const [arrived] = await receiver.waitFor(path, 1, 5000);
        latencies.push(arrived!.at - started);
      }
    }
    const campaignArrivals = receiver.requests('budget-bulk').map((r) => r.at);
    expect(campaignArrivals.length).toBeLessThan(401); // still backlogged throughout

    // Transactional goes first: no delivery waited on the campaign lane's shortage.
    latencies.sort((a, b) => a - b);
    process.stdout.write(`budget test: transactional latencies ${latencies.join(', ')} ms\n`);
    // (Were the campaign's shortage to pause both lanes, most would wait ~0.5 s.)
    expect(latencies[Math.floor(latencies.length / 2)]).toBeLessThan(250);
    expect(latencies[latencies.length - 1]).toBeLessThan(500);

    // Both lanes together, at the receiver: a token bucket of `rate` lets at
    // most `rate` (its burst) plus `rate` per second through in any window.
    const arrivals = [
      ...campaignArrivals,
      ...txPaths.map((path) => receiver.requests(path)[0]!.at),
    ].sort((a, b) => a - b);
    for (const windowMs of [1000, 2000, 3000]) {
      let most = 0;
      for (let i = 0, j = 0; i < arrivals.length; i++) {
        while (arrivals[i]! - arrivals[j]! >= windowMs) j++;
        most = Math.max(most, i - j + 1);
      }
      expect(most).toBeLessThanOrEqual(rate + (rate * windowMs) / 1000 + 1);
    }
    const seconds = (arrivals[arrivals.length - 1]! - arrivals[0]!) / 1000;
    expect(arrivals.length).toBeLessThanOrEqual(rate + rate * seconds + 1);
  });

  it('refuses private targets through the worker (SSRF): failed, dead-lettered, nothing sent', async () => {
    h.startWebhookWorker({ signingSecret: SECRET, allowPrivate: false });
    const { id, deliveryId } = await send('internal');
    const n = await waitFor(async () => {
      const v = (await request(h.app).get(`/v1/notifications/${id}`).set(bearer(writer))).body;
      return v.status === 'failed' ? v : undefined;
    });
    expect(n.deliveries[0].reason).toMatch(/^target_refused/);
    expect(await h.dlq('webhook').getJob(deliveryId)).toBeDefined();
    expect(receiver.total).toBe(0);
  });

  it('retries transient errors with backoff and dead-letters them after the last attempt, with every error', async () => {
    receiver.behave('flaky', { kind: 'status', status: 500, times: 100 });
    h.startWebhookWorker({ signingSecret: SECRET });
    const { id, deliveryId } = await send('flaky');
    const dead = await waitFor(() => h.dlq('webhook').getJob(deliveryId), {
      what: 'the dead letter',
    });
    expect(dead.data.errors).toHaveLength(5);
    expect(dead.data.errors.map((e: { code: string }) => e.code)).toEqual(
      Array(5).fill('provider_unavailable'),
    );
    const times = dead.data.errors.map((e: { at: string }) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(receiver.requests('flaky')).toHaveLength(5);
    const n = (await request(h.app).get(`/v1/notifications/${id}`).set(bearer(writer))).body;
    expect(n.deliveries[0]).toMatchObject({ status: 'failed', attemptsCount: 5 });
  });

  it('honours a receiver Retry-After before the next attempt', async () => {
    receiver.behave('busy', { kind: 'status', status: 429, times: 1, retryAfter: 1 });
    h.startWebhookWorker({ signingSecret: SECRET });
    await send('busy');
    const [first, second] = await receiver.waitFor('busy', 2, 10_000);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1000);
  });
});

import request from 'supertest';
import {
  bearer,
  createHarness,
  testToken,
  waitFor,
  WebhookReceiver,
  type Harness,
} from '@herald/testkit';

const SECRET = 'engine-test-signing-secret';
const writer = testToken('notifications:write notifications:read', 'engine');

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

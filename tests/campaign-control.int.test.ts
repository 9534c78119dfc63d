import request from 'supertest';
import type { Queue } from 'bullmq';
import type { CampaignView } from '@herald/db';
import type { Scheduler } from '@herald/scheduler';
import {
  bearer,
  createHarness,
  testToken,
  waitFor,
  WebhookReceiver,
  type Harness,
} from '@herald/testkit';

const marketer = testToken('campaigns:write campaigns:read', 'marketing');
const SECRET = 'campaign-control-webhook-secret';
/** Campaign-lane slots of the webhook worker, and deliveries per campaign job. */
const CONCURRENCY = 2;
const PER_JOB = 50;
/** How long the receiver takes to answer: keeps the campaign going while the test acts on it. */
const SLOW_MS = 300;
jest.setTimeout(90_000);

describe('campaign control: cancel, pause and resume while sending', () => {
  let h: Harness;
  let receiver: WebhookReceiver;
  let scheduler: Scheduler;
  let lane: Queue;

  beforeAll(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET, record: 'count' }).start();
    h = await createHarness();
    h.startWebhookWorker({ signingSecret: SECRET, concurrency: CONCURRENCY });
    scheduler = h.startScheduler();
    lane = h.queues.get('webhook.campaign')!;
  });
  afterAll(async () => {
    await h.close();
    await receiver.stop();
  });

  async function startCampaign(path: string, audience: number): Promise<string> {
    receiver.behave(path, { kind: 'slow', ms: SLOW_MS });
    await h.db.pool.query(
      `INSERT INTO recipients (id, webhook_url, tags)
       SELECT $1 || lpad(i::text, 6, '0'), $2, ARRAY[$1] FROM generate_series(1, $3::int) AS i`,
      [path, receiver.url(path), audience],
    );
    const res = await request(h.app)
      .post('/v1/campaigns')
      .set(bearer(marketer))
      .send({
        name: path,
        channels: ['webhook'],
        content: { webhook: { payload: { campaign: path } } },
        audience: { tag: path },
      })
      .expect(202);
    return res.body.id as string;
  }

  const view = async (id: string) =>
    (await request(h.app).get(`/v1/campaigns/${id}`).set(bearer(marketer)).expect(200))
      .body as CampaignView;

  const control = async (id: string, action: 'pause' | 'resume' | 'cancel', status = 202) =>
    (
      await request(h.app)
        .post(`/v1/campaigns/${id}/${action}`)
        .set(bearer(marketer))
        .expect(status)
    ).body as CampaignView;

  const waitForSent = (id: string, atLeast: number) =>
    waitFor(async () => (await view(id)).counts.sent >= atLeast, {
      timeoutMs: 30_000,
      what: `${atLeast} deliveries of ${id} sent`,
    });

  /** Jobs of the campaign lane in each state. */
  async function laneCounts() {
    const c = await lane.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return {
      busy: (c.waiting ?? 0) + (c.active ?? 0) + (c.prioritized ?? 0),
      delayed: c.delayed ?? 0,
    };
  }

  /** The deliveries' own statuses, to hold the ledger's counters to. */
  async function statusesOf(id: string): Promise<Record<string, number>> {
    const { rows } = await h.db.pool.query<{ status: string; n: number }>(
      `SELECT status::text, count(*)::int AS n FROM deliveries WHERE campaign_id = $1 GROUP BY 1`,
      [id],
    );
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  it('stops a campaign within one batch per worker slot of the cancel, and settles every count', async () => {
    const id = await startCampaign('cancel', 2500);
    await waitForSent(id, 150);

    const cancelled = await control(id, 'cancel');
    const receivedAtCancel = receiver.received('cancel');
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.counts.cancelled).toBeGreaterThan(0);
    // Cancelling again is a conflict, and must not lift the cancellation.
    await control(id, 'cancel', 409);
    await control(id, 'pause', 409);
    await control(id, 'resume', 409);

    // Settled: nothing of the campaign left in Redis, every delivery counted.
    const settled = await waitFor(
      async () => {
        const { busy, delayed } = await laneCounts();
        const v = await view(id);
        const { sent, failed, skipped, cancelled: c } = v.counts;
        return busy + delayed === 0 && sent + failed + skipped + c === v.counts.total
          ? v
          : undefined;
      },
      { timeoutMs: 30_000, what: 'the cancelled campaign to settle' },
    );
    const inFlight = CONCURRENCY * PER_JOB;
    expect(settled.status).toBe('cancelled');
    expect(settled.counts.queued).toBe(0);
    expect(settled.counts.sent).toBeLessThanOrEqual(cancelled.counts.sent + inFlight);
    expect(settled.counts.cancelled).toBeGreaterThanOrEqual(
      settled.counts.total - cancelled.counts.sent - inFlight,
    );
    expect(receiver.received('cancel')).toBeLessThanOrEqual(receivedAtCancel + inFlight);
    // Every request that reached the receiver is a sent delivery, and the other way round.
    expect(receiver.received('cancel')).toBe(settled.counts.sent);
    expect(await statusesOf(id)).toEqual({
      sent: settled.counts.sent,
      cancelled: settled.counts.cancelled,
    });

    // Nothing left anywhere to send it: more scheduler passes relay and expand nothing.
    for (let pass = 0; pass < 3; pass++)
      expect(await scheduler.runOnce()).toEqual({ relayed: 0, expanded: 0 });
    expect(await laneCounts()).toEqual({ busy: 0, delayed: 0 });
    expect(receiver.received('cancel')).toBe(settled.counts.sent);
    expect((await view(id)).counts).toEqual(settled.counts);
  });

  it('starts no delivery while paused, and completes after resume', async () => {
    const audience = 1500;
    const id = await startCampaign('pause', audience);
    await waitForSent(id, 100);

    const paused = await control(id, 'pause');
    expect(paused.status).toBe('paused');
    await control(id, 'pause', 409);

    // The batches in flight finish; every other batch is held back, delayed for a later look.
    const firstHold = await waitFor(
      async () => {
        const { busy, delayed } = await laneCounts();
        if (busy > 0 || delayed === 0) return undefined;
        return (await lane.getDelayed()).map((job) => job.id!);
      },
      { timeoutMs: 30_000, what: 'the paused batches to be held back' },
    );
    const atPause = await view(id);
    const receivedAtPause = receiver.received('pause');
    expect(atPause.counts.sent).toBe(receivedAtPause);
    expect(atPause.counts.sent).toBeLessThanOrEqual(paused.counts.sent + CONCURRENCY * PER_JOB);
    expect(atPause.counts.queued).toBeGreaterThan(0);

    // A fair window: every held batch comes back, is checked again and is held back again.
    await waitFor(
      async () => {
        const before = await Promise.all(firstHold.map((jobId) => lane.getJob(jobId)));
        if (before.some((job) => job !== undefined)) return false;
        const { busy, delayed } = await laneCounts();
        return busy === 0 && delayed > 0;
      },
      { timeoutMs: 30_000, what: 'every held batch to be checked again' },
    );
    expect(receiver.received('pause')).toBe(receivedAtPause);
    const stillPaused = await view(id);
    expect(stillPaused.status).toBe('paused');
    expect(stillPaused.counts).toEqual(atPause.counts);

    const resumed = await control(id, 'resume');
    expect(resumed.status).toBe('running');
    await control(id, 'resume', 409);
    const done = await waitFor(
      async () => {
        const v = await view(id);
        return v.status === 'completed' ? v : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 50, what: 'the resumed campaign to complete' },
    );
    expect(done.counts).toEqual({
      total: audience,
      queued: 0,
      sent: audience,
      failed: 0,
      skipped: 0,
      cancelled: 0,
    });
    expect(receiver.received('pause')).toBe(audience);
    expect(await statusesOf(id)).toEqual({ sent: audience });
  });
});

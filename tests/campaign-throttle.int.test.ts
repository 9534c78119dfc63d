import request from 'supertest';
import type { CampaignView } from '@herald/db';
import { createCampaignFanout } from '@herald/scheduler';
import { createCampaignThrottle } from '@herald/worker-kit';
import {
  bearer,
  createHarness,
  laneQueuesRefusingWrites,
  testToken,
  TEST_UNSUBSCRIBE_SECRET,
  waitFor,
  WebhookReceiver,
  type Harness,
  type ReceivedWebhook,
} from '@herald/testkit';

const marketer = testToken('campaigns:write campaigns:read', 'throttle-test');
const SECRET = 'campaign-throttle-webhook-secret';
const RECIPIENTS = 20;
const PER_SECOND = 10;
/**
 * Workers send at most 10 in any second (one slot per 100 ms, a send going at
 * most THROTTLE_TOLERANCE_MS early, so 11 at a window's edges); the receiver
 * sees them with the jitter of each HTTP exchange on a busy machine on top.
 * Without the throttle, sends that come due together arrive 14 to 20 at once.
 */
const MOST_IN_A_SECOND = PER_SECOND + 2;
/** 20 sends at 10/s: the last is due 1.9 s after the first. */
const PACED_SPAN_MS = ((RECIPIENTS - 1) / PER_SECOND) * 1000;
jest.setTimeout(60_000);

async function insertRecipients(
  h: Harness,
  path: string,
  receiver: WebhookReceiver,
  count = RECIPIENTS,
) {
  await h.db.pool.query(
    `INSERT INTO recipients (id, webhook_url, tags)
     SELECT 'paced-' || lpad(i::text, 3, '0'), $1, ARRAY['paced'] FROM generate_series(1, $2::int) AS i`,
    [receiver.url(path), count],
  );
}

const throttledCampaign = (h: Harness, perSecond = PER_SECOND) =>
  request(h.app)
    .post('/v1/campaigns')
    .set(bearer(marketer))
    .send({
      name: 'paced',
      channels: ['webhook'],
      content: { webhook: { payload: { paced: true } } },
      audience: { tag: 'paced' },
      throttle: { perSecond },
    })
    .expect(202);

/** Every paced job of a campaign is in Redis and past its planned time. */
async function allPacedJobsDue(h: Harness, campaignId: string, deliveries: number) {
  const lane = h.queues.get('webhook.campaign')!;
  await waitFor(
    async () => {
      const { rows } = await h.db.pool.query<{ paced_until: Date | null }>(
        'SELECT paced_until FROM campaigns WHERE id = $1',
        [campaignId],
      );
      const jobs = await lane.getJobs(['waiting', 'delayed', 'prioritized']);
      const queued = jobs.reduce(
        (n, job) => n + ((job.data as { deliveries?: unknown[] }).deliveries?.length ?? 1),
        0,
      );
      const pacedUntil = rows[0]?.paced_until?.getTime();
      return queued === deliveries && pacedUntil !== undefined && pacedUntil <= Date.now();
    },
    { what: 'every paced job to be in Redis and due', timeoutMs: 20_000 },
  );
}

const arrivalTimes = (received: ReceivedWebhook[]) =>
  received.map((r) => r.at).sort((a, b) => a - b);

/** The most arrivals within any one second. */
function busiestSecond(times: number[]): number {
  return Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + 1000).length));
}

describe('campaign throttle.perSecond', () => {
  let h: Harness;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    h = await createHarness();
    h.startWebhookWorker({ signingSecret: SECRET, concurrency: 10 });
    h.startScheduler();
  });
  afterAll(async () => {
    await h.close();
    await receiver.stop();
  });

  it('spreads 20 recipients at 10/s over ~1.9 s at the receiver, never more than ~10 in a second', async () => {
    await insertRecipients(h, 'paced', receiver);
    const created = await throttledCampaign(h);

    const times = arrivalTimes(await receiver.waitFor('paced', RECIPIENTS, 30_000));
    expect(times).toHaveLength(RECIPIENTS);
    // Due 0, 100, …, 1900 ms after the first: allow for a late first send.
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(PACED_SPAN_MS - 200);
    expect(busiestSecond(times)).toBeLessThanOrEqual(MOST_IN_A_SECOND);

    const done = await waitFor(
      async () => {
        const view = (
          await request(h.app)
            .get(`/v1/campaigns/${created.body.id}`)
            .set(bearer(marketer))
            .expect(200)
        ).body as CampaignView;
        return view.status === 'completed' ? view : undefined;
      },
      { what: 'the campaign to complete' },
    );
    expect(done.counts).toMatchObject({ total: RECIPIENTS, sent: RECIPIENTS, failed: 0 });
  });
});

describe('campaign throttle when the jobs come due together (no worker was running)', () => {
  let h: Harness;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    h = await createHarness();
    h.startScheduler();
  });
  afterAll(async () => {
    await h.close();
    await receiver.stop();
  });

  it('two replicas started afterwards still send at 10/s, holding the slot without spending an attempt', async () => {
    await insertRecipients(h, 'late', receiver);
    const created = await throttledCampaign(h);
    // Without a cap where the sends happen, all 20 would go the moment workers start.
    await allPacedJobsDue(h, created.body.id, RECIPIENTS);

    h.startWebhookWorker({ signingSecret: SECRET, concurrency: 10 });
    h.startWebhookWorker({ signingSecret: SECRET, concurrency: 10 });
    const times = arrivalTimes(await receiver.waitFor('late', RECIPIENTS, 30_000));
    expect(times).toHaveLength(RECIPIENTS);
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(PACED_SPAN_MS - 200);
    expect(busiestSecond(times)).toBeLessThanOrEqual(MOST_IN_A_SECOND);

    // Waiting for the slot is not an attempt: one each, all sent.
    const rows = await waitFor(
      async () => {
        const result = await h.db.pool.query<{ attempt: number; outcome: string }>(
          'SELECT attempt, outcome FROM attempts',
        );
        return result.rows.length >= RECIPIENTS ? result.rows : undefined;
      },
      { what: 'the attempts to be recorded' },
    );
    expect(rows).toHaveLength(RECIPIENTS);
    expect(rows.every((r) => r.attempt === 1 && r.outcome === 'sent')).toBe(true);
  });
});

describe('campaign throttle of batch jobs (perSecond 40: four deliveries a job)', () => {
  let h: Harness;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    h = await createHarness();
    h.startScheduler();
  });
  afterAll(async () => {
    await h.close();
    await receiver.stop();
  });

  it('holds the pace whose campaign and rate the batch stores once for its members', async () => {
    const perSecond = 40;
    const recipients = 80;
    await insertRecipients(h, 'batched', receiver, recipients);
    const created = await throttledCampaign(h, perSecond);
    await allPacedJobsDue(h, created.body.id, recipients);
    const [job] = await h.queues.get('webhook.campaign')!.getJobs(['waiting']);
    expect(job!.data).toMatchObject({
      shared: { campaignId: created.body.id, throttlePerSecond: perSecond },
    });

    h.startWebhookWorker({ signingSecret: SECRET, concurrency: 10 });
    const times = arrivalTimes(await receiver.waitFor('batched', recipients, 30_000));
    // 80 at 40/s: the last is due 1.9 s after the first; unthrottled, all 80 go at once.
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(1700);
    expect(busiestSecond(times)).toBeLessThanOrEqual(perSecond + 8);
  });
});

describe('campaign throttle when the provider budget holds sends back', () => {
  let h: Harness;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    h = await createHarness();
  });
  afterAll(async () => {
    await h.close();
    await receiver.stop();
  });

  it('a job paused for the budget keeps its slot: one reservation per send', async () => {
    const sends = 8;
    const real = createCampaignThrottle(h.redis, { keyPrefix: h.prefix });
    let reservedSends = 0;
    // The budget (2/s) is tighter than the throttle (10/s): most jobs are
    // paused at least once and come back. Slots taken again for them would
    // run the campaign's pace ahead of its sends.
    h.startWebhookWorker({
      signingSecret: SECRET,
      concurrency: 10,
      ratePerSecond: 2,
      campaignThrottle: {
        reserve(campaignId, perSecond, count) {
          reservedSends += count;
          return real.reserve(campaignId, perSecond, count);
        },
      },
    });
    h.startScheduler();
    await insertRecipients(h, 'budget', receiver, sends);
    await throttledCampaign(h);

    const times = arrivalTimes(await receiver.waitFor('budget', sends, 30_000));
    // Held to the budget: 2 at once, then 2 a second.
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(2000);
    expect(reservedSends).toBe(sends);
  });
});

describe('campaign throttle when the fan-out cannot enqueue', () => {
  let h: Harness;
  let receiver: WebhookReceiver;
  const releases: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    h = await createHarness();
  });
  afterAll(async () => {
    for (const release of releases.reverse()) await release();
    await h.close();
    await receiver.stop();
  });

  it('keeps the paced times in the outbox, so the relay still sends the batch paced', async () => {
    // A Redis that answers reads (the fan-out's window check) but refuses
    // every write: the batch commits to Postgres, then its enqueue fails.
    const refusing = await laneQueuesRefusingWrites();
    releases.push(() => refusing.stop());
    const fanout = createCampaignFanout({
      pool: h.db.pool,
      queues: refusing.queues,
      retry: h.retry,
      links: { publicUrl: 'http://herald.test', unsubscribeSecret: TEST_UNSUBSCRIBE_SECRET },
      log: h.log,
      options: { enqueueLeaseMs: 300 },
    });

    await insertRecipients(h, 'relayed', receiver);
    await throttledCampaign(h);
    const expandedAt = Date.now();
    expect(await fanout.runOnce()).toBe(RECIPIENTS);

    // One outbox row for the page, every job in it with its paced time.
    const { rows: pages } = await h.db.pool.query<{
      jobs: { at: number; deliveryIds: string[] }[];
      claimed_until: Date;
    }>('SELECT jobs, claimed_until FROM campaign_outbox');
    expect(pages).toHaveLength(1);
    const rows = pages[0]!.jobs
      .flatMap((job) => job.deliveryIds.map((id) => ({ delivery_id: id, at: job.at })))
      .sort((a, b) => a.at - b.at);
    expect(rows).toHaveLength(RECIPIENTS);
    const at = rows.map((r) => r.at);
    expect(at.at(-1)! - at[0]!).toBeCloseTo(PACED_SPAN_MS, -1);
    // Left to the fan-out's own enqueue for its lease, then to the relay.
    expect(pages[0]!.claimed_until.getTime()).toBeGreaterThan(expandedAt);
    expect(await h.queues.get('webhook.campaign')!.count()).toBe(0);

    h.startWebhookWorker({ signingSecret: SECRET, concurrency: 10 });
    h.startScheduler();
    const received = await receiver.waitFor('relayed', RECIPIENTS, 30_000);
    const dueAt = new Map(rows.map((r) => [r.delivery_id, r.at]));
    for (const arrival of received) {
      const id = (arrival.body as { id: string }).id;
      // Never before its paced time (a little slack for clocks and rounding).
      expect(arrival.at).toBeGreaterThanOrEqual(dueAt.get(id)! - 20);
    }
    // Those whose time passed during the lease come due together; the workers still pace them.
    const times = arrivalTimes(received);
    expect(times.at(-1)! - expandedAt).toBeGreaterThanOrEqual(PACED_SPAN_MS - 100);
    expect(busiestSecond(times)).toBeLessThanOrEqual(MOST_IN_A_SECOND);
    await waitFor(
      async () =>
        (await h.db.pool.query('SELECT 1 FROM campaign_outbox')).rowCount === 0 || undefined,
      { what: 'the relayed page to be released' },
    );
  });
});

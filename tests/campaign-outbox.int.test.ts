/**
 * The campaign fan-out's outbox: one Postgres row per page of recipients,
 * holding the page's jobs until Redis has confirmed them. When the enqueue
 * after the commit fails (or the process dies there), the relay enqueues the
 * page once its claim runs out, without what was settled meanwhile.
 */
import request from 'supertest';
import { batchMembers } from '@herald/core';
import { claimCampaignPages, createDatabase, type CampaignView } from '@herald/db';
import { createCampaignFanout, createCampaignPageRelay } from '@herald/scheduler';
import {
  bearer,
  createHarness,
  laneQueuesRefusingWrites,
  testToken,
  TEST_UNSUBSCRIBE_SECRET,
  waitFor,
  WebhookReceiver,
  type Harness,
} from '@herald/testkit';

const marketer = testToken('campaigns:write campaigns:read', 'outbox-test');
const manager = testToken('recipients:write recipients:read', 'crm');
const SECRET = 'campaign-outbox-webhook-secret';
const PAGE = 10;
jest.setTimeout(60_000);

interface StoredJob {
  jobId: string;
  deliveryIds: string[];
  data: unknown;
}

describe('campaign outbox: one row per fan-out page', () => {
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
  beforeEach(async () => {
    receiver.clear();
    await h.db.pool.query('TRUNCATE campaigns, recipients CASCADE');
  });
  // Each test's scheduler and worker stop with it: a scheduler left running
  // would expand the next test's campaign through the working Redis.
  const stops: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  function startSending(): void {
    const worker = h.startWebhookWorker({ signingSecret: SECRET, concurrency: 5 });
    const scheduler = h.startScheduler({ fanout: { pageSize: PAGE } });
    stops.push(
      () => worker.close(),
      () => scheduler.close(),
    );
  }

  /** The fan-out's claim on its pages runs out now, as when its process died. */
  const expireClaims = () =>
    h.db.pool.query("UPDATE campaign_outbox SET claimed_until = now() - interval '1 second'");

  /** A fan-out of pages of PAGE recipients onto these queues. */
  function fanoutOnto(queues: Harness['queues']) {
    return createCampaignFanout({
      pool: h.db.pool,
      queues,
      retry: h.retry,
      links: { publicUrl: 'http://herald.test', unsubscribeSecret: TEST_UNSUBSCRIBE_SECRET },
      log: h.log,
      options: { pageSize: PAGE, enqueueLeaseMs: 60_000 },
    });
  }

  /** A fan-out whose Redis answers reads (the window check) but refuses every write. */
  async function fanoutThatCannotEnqueue() {
    const refusing = await laneQueuesRefusingWrites();
    releases.push(() => refusing.stop());
    return fanoutOnto(refusing.queues);
  }

  async function insertRecipients(path: string, count: number) {
    await h.db.pool.query(
      `INSERT INTO recipients (id, webhook_url, tags)
       SELECT $3 || '-' || lpad(i::text, 3, '0'), $1 || '?r=' || i, ARRAY[$3] FROM generate_series(1, $2::int) AS i`,
      [receiver.url(path), count, path],
    );
  }

  async function startCampaign(tag: string): Promise<string> {
    const res = await request(h.app)
      .post('/v1/campaigns')
      .set(bearer(marketer))
      .send({
        name: tag,
        channels: ['webhook'],
        content: { webhook: { payload: { tag } } },
        audience: { tag },
      })
      .expect(202);
    return (res.body as { id: string }).id;
  }

  const pages = async () =>
    (
      await h.db.pool.query<{ id: string; jobs: StoredJob[] }>(
        'SELECT id, jobs FROM campaign_outbox ORDER BY id',
      )
    ).rows;

  const view = async (id: string) =>
    (await request(h.app).get(`/v1/campaigns/${id}`).set(bearer(marketer)).expect(200))
      .body as CampaignView;

  /** Runs the fan-out until the campaign is expanded; resolves with the deliveries it made. */
  async function expandAll(fanout: { runOnce(): Promise<number> }): Promise<number> {
    let made = 0;
    for (let n = await fanout.runOnce(); n > 0; n = await fanout.runOnce()) made += n;
    return made;
  }

  const arrivedIds = (path: string) =>
    receiver.requests(path).map((r) => (r.body as { id: string }).id);

  it('writes no per-delivery outbox entries, and releases each page once Redis has its jobs', async () => {
    await insertRecipients('direct', 25);
    const id = await startCampaign('direct');
    const scheduler = h.startScheduler({ fanout: { pageSize: PAGE } });
    stops.push(() => scheduler.close());
    await waitFor(
      async () =>
        (
          await h.db.pool.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM campaigns WHERE id = $1 AND expanded_at IS NOT NULL',
            [id],
          )
        ).rows[0]!.n === 1,
      { what: 'the campaign to be expanded' },
    );
    await scheduler.close();
    expect(await pages()).toEqual([]);
    const { rows } = await h.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
    expect(rows[0]!.n).toBe(0);
    const queue = h.queues.get('webhook.campaign')!;
    const jobs = await queue.getJobs(['waiting']);
    expect(jobs).toHaveLength(3); // pages of 10, 10 and 5: one job each
    expect(jobs.flatMap((j) => (j.data as { deliveries: unknown[] }).deliveries)).toHaveLength(25);
    // The campaign's content and ids travel once per job, each member only with its own.
    for (const job of jobs) {
      const data = job.data as { shared?: object; deliveries: object[] };
      expect(data.shared).toMatchObject({
        campaignId: id,
        content: { payload: { tag: 'direct' } },
        lane: 'campaign',
      });
      for (const member of data.deliveries)
        expect(Object.keys(member).sort()).toEqual(['deliveryId', 'recipientId', 'to']);
    }
    await queue.obliterate({ force: true });
  });

  it("stores a templated campaign's data once per job; each member is rendered with its own recipient", async () => {
    const editor = testToken('templates:write', 'outbox-test');
    await request(h.app)
      .put('/v1/templates/outbox-greeting')
      .set(bearer(editor))
      .send({
        channels: { webhook: { payload: { hi: '{{ recipient.id }}', deal: '{{ deal }}' } } },
      })
      .expect(201);
    await insertRecipients('templated', 3);
    const data = { deal: 'spring sale', items: Array.from({ length: 20 }, (_, i) => `item ${i}`) };
    const res = await request(h.app)
      .post('/v1/campaigns')
      .set(bearer(marketer))
      .send({
        name: 'templated',
        channels: ['webhook'],
        template: 'outbox-greeting',
        data,
        audience: { tag: 'templated' },
      })
      .expect(202);
    expect(await expandAll(fanoutOnto(h.queues))).toBe(3);

    const [job] = await h.queues.get('webhook.campaign')!.getJobs(['waiting']);
    const stored = job!.data as { shared: { data: unknown }; deliveries: object[] };
    expect(stored.shared.data).toEqual(data);
    for (const member of stored.deliveries) expect(member).not.toHaveProperty('data');

    startSending();
    const received = await receiver.waitFor('templated', 3, 20_000);
    expect(received.map((r) => (r.body as { payload: unknown }).payload)).toEqual(
      expect.arrayContaining(
        ['templated-001', 'templated-002', 'templated-003'].map((id) => ({
          hi: id,
          deal: 'spring sale',
        })),
      ),
    );
    await waitFor(async () => (await view(res.body.id as string)).status === 'completed', {
      what: 'the campaign to complete',
    });
  });

  it('keeps a page the fan-out could not enqueue as one row, holds the campaign, and the relay sends it once', async () => {
    await insertRecipients('relayed', 25);
    const id = await startCampaign('relayed');
    const fanout = await fanoutThatCannotEnqueue();
    // The first page goes to Postgres; the campaign expands no further while it waits for Redis.
    expect(await expandAll(fanout)).toBe(PAGE);
    expect(await expandAll(fanout)).toBe(0);

    const stored = await pages();
    expect(stored).toHaveLength(1);
    expect(stored[0]!.jobs.flatMap((j) => j.deliveryIds)).toHaveLength(PAGE);

    await expireClaims();
    startSending();
    await receiver.waitFor('relayed', 25, 20_000);
    await waitFor(async () => (await view(id)).status === 'completed', {
      what: 'the campaign to complete',
    });
    expect(new Set(arrivedIds('relayed')).size).toBe(25);
    expect(receiver.received('relayed')).toBe(25);
    expect(await pages()).toEqual([]);
  });

  it('does not enqueue a page again that reached Redis before the fan-out died, even once its jobs ran', async () => {
    await insertRecipients('landed', 10);
    const id = await startCampaign('landed');
    // Postgres refuses to delete page rows: the fan-out dies between Redis
    // confirming the page and the row going.
    await h.db.pool.query(`CREATE FUNCTION refuse_page_release() RETURNS trigger LANGUAGE plpgsql
      AS $$ BEGIN RAISE EXCEPTION 'fan-out died here'; END $$`);
    await h.db.pool.query(`CREATE TRIGGER refuse_page_release BEFORE DELETE ON campaign_outbox
      FOR EACH ROW EXECUTE FUNCTION refuse_page_release()`);
    try {
      await expect(fanoutOnto(h.queues).runOnce()).rejects.toThrow(/fan-out died here/);
    } finally {
      await h.db.pool.query('DROP TRIGGER refuse_page_release ON campaign_outbox');
      await h.db.pool.query('DROP FUNCTION refuse_page_release');
    }
    const [page] = await pages();
    const ids = page!.jobs.flatMap((j) => j.deliveryIds);
    expect(ids).toHaveLength(10);

    // The page's job runs to the end and is removed, as every finished job is.
    const worker = h.startWebhookWorker({ signingSecret: SECRET, concurrency: 5 });
    stops.push(() => worker.close());
    await receiver.waitFor('landed', 10, 20_000);
    await waitFor(async () => (await view(id)).counts.sent === 10, { what: 'ten sent' });
    await worker.close();
    // One member waits again, untried, as when a worker put it back under a
    // job id of its own (a paused campaign): the old job must not hand it out
    // a second time.
    await h.db.pool.query(
      `UPDATE deliveries SET status = 'queued', sent_at = NULL, attempts_count = 0 WHERE id = $1`,
      [ids[0]],
    );

    await expireClaims();
    const relay = createCampaignPageRelay({
      pool: h.db.pool,
      queues: h.queues,
      retry: h.retry,
      log: h.log,
    });
    await relay.runOnce();

    expect(await pages()).toEqual([]);
    const counts = await h.queues
      .get('webhook.campaign')!
      .getJobCounts('waiting', 'delayed', 'active', 'prioritized');
    expect(counts).toEqual({ waiting: 0, delayed: 0, active: 0, prioritized: 0 });
  });

  it('leaves out of a late page what was settled or tried meanwhile', async () => {
    await insertRecipients('settled', 10);
    const id = await startCampaign('settled');
    const fanout = await fanoutThatCannotEnqueue();
    expect(await expandAll(fanout)).toBe(10);
    const [page] = await pages();
    const ids = page!.jobs.flatMap((j) => j.deliveryIds);
    // Three were sent by a job that did reach Redis, two cancelled.
    await h.db.pool.query(
      `UPDATE deliveries SET status = 'sent', sent_at = now() WHERE id = ANY($1::uuid[])`,
      [ids.slice(0, 3)],
    );
    await h.db.pool.query(`UPDATE campaigns SET sent = 3 WHERE id = $1`, [id]);
    await h.db.pool.query(`UPDATE deliveries SET status = 'cancelled' WHERE id = ANY($1::uuid[])`, [
      ids.slice(3, 5),
    ]);
    await h.db.pool.query(`UPDATE campaigns SET cancelled = 2 WHERE id = $1`, [id]);
    // One was tried and failed: it waits as a retry job of its own.
    const retried = ids[5]!;
    const member = (batchMembers(page!.jobs[0]!.data) as { deliveryId: string }[]).find(
      (m) => m.deliveryId === retried,
    )!;
    await h.db.pool.query('UPDATE deliveries SET attempts_count = 1 WHERE id = $1', [retried]);
    await h.queues
      .get('webhook.campaign')!
      .add('deliver', { ...member, priorAttempts: 1 }, { jobId: retried });

    await expireClaims();
    startSending();
    await waitFor(async () => (await view(id)).status === 'completed', {
      what: 'the campaign to complete',
    });
    expect(arrivedIds('settled').sort()).toEqual(ids.slice(5).sort());
    expect((await view(id)).counts).toMatchObject({ total: 10, sent: 8, cancelled: 2 });
    expect(await pages()).toEqual([]);
  });

  it('drops the pages of a cancelled campaign: none of it is sent', async () => {
    await insertRecipients('cancelled', 15);
    const id = await startCampaign('cancelled');
    const fanout = await fanoutThatCannotEnqueue();
    expect(await expandAll(fanout)).toBe(PAGE);
    expect(await pages()).toHaveLength(1);

    await request(h.app).post(`/v1/campaigns/${id}/cancel`).set(bearer(marketer)).expect(202);
    expect(await pages()).toEqual([]);
    const relay = createCampaignPageRelay({
      pool: h.db.pool,
      queues: h.queues,
      retry: h.retry,
      log: h.log,
    });
    expect(await relay.runOnce()).toBe(0);
    expect(await h.queues.get('webhook.campaign')!.count()).toBe(0);
    expect((await view(id)).counts).toMatchObject({ total: PAGE, cancelled: PAGE, sent: 0 });
  });

  it('erasing a recipient removes their address from pages not yet enqueued', async () => {
    await insertRecipients('erased', 5);
    const id = await startCampaign('erased');
    const fanout = await fanoutThatCannotEnqueue();
    expect(await expandAll(fanout)).toBe(5);
    const erasedUrl = `${receiver.url('erased')}?r=2"`;
    expect(JSON.stringify(await pages())).toContain(erasedUrl);
    const { rows } = await h.db.pool.query<{ id: string }>(
      `SELECT id FROM deliveries WHERE recipient_id = 'erased-002'`,
    );
    const erasedDelivery = rows[0]!.id;

    await request(h.app).delete('/v1/recipients/erased-002').set(bearer(manager)).expect(204);
    const [page] = await pages();
    expect(JSON.stringify(page)).not.toContain(erasedUrl);
    expect(JSON.stringify(page)).not.toContain('erased-002');
    expect(page!.jobs.flatMap((j) => j.deliveryIds)).toHaveLength(4);

    await expireClaims();
    startSending();
    await waitFor(async () => (await view(id)).status === 'completed', {
      what: 'the campaign to complete',
    });
    expect(receiver.received('erased')).toBe(4);
    expect(arrivedIds('erased')).not.toContain(erasedDelivery);
    expect((await view(id)).counts).toMatchObject({ total: 5, sent: 4, cancelled: 1 });
  });

  it('relays claiming at once from 4 pools take disjoint pages and cover them all', async () => {
    // Eight campaigns, each with one page waiting for Redis.
    await insertRecipients('claims', PAGE);
    for (let i = 0; i < 8; i++) await startCampaign('claims');
    const fanout = await fanoutThatCannotEnqueue();
    expect(await expandAll(fanout)).toBe(8 * PAGE);
    const all = await pages();
    expect(all).toHaveLength(8);
    await expireClaims();
    const pools = Array.from({ length: 4 }, () => createDatabase(h.testDb.url));
    try {
      const claims = await Promise.all(
        pools.map((db) => claimCampaignPages(db.pool, { leaseMs: 60_000, limit: 3 })),
      );
      const claimed = claims.flat().map((p) => p.id);
      expect(new Set(claimed).size).toBe(claimed.length);
      const again = await claimCampaignPages(h.db.pool, { leaseMs: 60_000, limit: 10 });
      expect([...claimed, ...again.map((p) => p.id)].sort()).toEqual(all.map((p) => p.id).sort());
    } finally {
      await Promise.all(pools.map((db) => db.close()));
    }
  });
});

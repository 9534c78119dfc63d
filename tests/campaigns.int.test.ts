import { performance } from 'node:perf_hooks';
import request from 'supertest';
import type { CampaignView } from '@herald/db';
import {
  bearer,
  createHarness,
  testToken,
  waitFor,
  WebhookReceiver,
  type Harness,
} from '@herald/testkit';

const marketer = testToken('campaigns:write campaigns:read', 'marketing');
const SECRET = 'campaigns-test-webhook-secret';
/** Deliveries per campaign-lane job (the fan-out's batches). */
const PER_JOB = 50;
jest.setTimeout(120_000);

/** Stored recipients, inserted in one statement: `${prefix}000001`, … with one tag. */
async function insertRecipients(
  h: Harness,
  count: number,
  r: { prefix: string; tag: string; webhookUrl?: string },
): Promise<void> {
  await h.db.pool.query(
    `INSERT INTO recipients (id, webhook_url, tags)
     SELECT $1 || lpad(i::text, 6, '0'), $2, ARRAY[$3::text] FROM generate_series(1, $4::int) AS i`,
    [r.prefix, r.webhookUrl ?? null, r.tag, count],
  );
}

const webhookCampaign = (name: string, audience: unknown) => ({
  name,
  channels: ['webhook'],
  content: { webhook: { payload: { campaign: name } } },
  audience,
});

const postCampaign = (h: Harness, body: object) =>
  request(h.app).post('/v1/campaigns').set(bearer(marketer)).send(body);

async function campaignView(h: Harness, id: string): Promise<CampaignView> {
  return (await request(h.app).get(`/v1/campaigns/${id}`).set(bearer(marketer)).expect(200))
    .body as CampaignView;
}

const waitForStatus = (h: Harness, id: string, status: string, timeoutMs = 30_000) =>
  waitFor(
    async () => {
      const view = await campaignView(h, id);
      return view.status === status ? view : undefined;
    },
    { timeoutMs, intervalMs: 50, what: `campaign ${id} to be ${status}` },
  );

describe('a 10,000-recipient campaign, end to end', () => {
  let h: Harness;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET, record: 'count' }).start();
    h = await createHarness();
    // The receiver shares this process's event loop with 250 requests in flight: a generous
    // timeout keeps a slow answer from counting as a failure (and being sent again).
    h.startWebhookWorker({ signingSecret: SECRET, concurrency: 5, timeoutMs: 30_000 });
  });
  afterAll(async () => {
    await h.close();
    await receiver.stop();
  });

  it('is accepted at once, expanded in the background and sent to every recipient once', async () => {
    await insertRecipients(h, 10_000, {
      prefix: 'big-',
      tag: 'big',
      webhookUrl: receiver.url('big'),
    });
    // Outside the audience.
    await insertRecipients(h, 50, {
      prefix: 'other-',
      tag: 'other',
      webhookUrl: receiver.url('other'),
    });

    const started = performance.now();
    const created = await postCampaign(h, webhookCampaign('ten thousand', { tag: 'big' })).expect(
      202,
    );
    expect(performance.now() - started).toBeLessThan(1000);
    expect(created.body).toEqual({ id: expect.any(String), status: 'running' });
    expect(created.headers.location).toBe(`/v1/campaigns/${created.body.id}`);
    const id = created.body.id as string;

    // The scheduler is not running yet: the 202 did not wait for any fan-out.
    const accepted = await campaignView(h, id);
    expect(accepted).toMatchObject({ status: 'running', expanded: false });
    expect(accepted.counts.total).toBe(0);

    h.startScheduler();
    const getMs: number[] = [];
    const done = await waitFor(
      async () => {
        const t = performance.now();
        const view = await campaignView(h, id);
        getMs.push(performance.now() - t);
        return view.status === 'completed' ? view : undefined;
      },
      { timeoutMs: 100_000, intervalMs: 100, what: 'the campaign to complete' },
    );
    expect(done.counts).toEqual({
      total: 10_000,
      queued: 0,
      sent: 10_000,
      failed: 0,
      skipped: 0,
      cancelled: 0,
    });
    expect(done.expanded).toBe(true);
    expect(done.completedAt).toEqual(expect.any(String));
    // A read of the counters, not a count of the deliveries. Measured from the process that also
    // runs the worker (250 requests in flight), hence the generous bounds.
    getMs.sort((a, b) => a - b);
    expect(getMs[Math.floor(getMs.length / 2)]).toBeLessThan(500);
    expect(getMs.at(-1)).toBeLessThan(2000);
    expect(receiver.received('big')).toBe(10_000);
    expect(receiver.received('other')).toBe(0);
    expect(receiver.invalidSignatures).toBe(0);
    // The counters agree with the deliveries themselves.
    const { rows } = await h.db.pool.query<{ status: string; n: number }>(
      `SELECT status::text, count(*)::int AS n FROM deliveries WHERE campaign_id = $1 GROUP BY 1`,
      [id],
    );
    expect(rows).toEqual([{ status: 'sent', n: 10_000 }]);
  });
});

describe('windowed fan-out', () => {
  const windowJobs = 5;
  const pageSize = 100;
  /** The window is checked before each page, so one page's jobs may top it up past the window. */
  const maxDepth = windowJobs + Math.ceil(pageSize / PER_JOB) - 1;
  let h: Harness;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET, record: 'count' }).start();
    h = await createHarness();
  });
  afterAll(async () => {
    await h.close();
    await receiver.stop();
  });

  it('never lets the campaign lane hold more than the window, whatever the audience', async () => {
    const audience = 3000;
    await insertRecipients(h, audience, {
      prefix: 'w-',
      tag: 'wide',
      webhookUrl: receiver.url('w'),
    });
    const lane = h.queues.get('webhook.campaign')!;
    let deepest = 0;
    const depth = async () => {
      const c = await lane.getJobCounts('waiting', 'delayed', 'prioritized');
      const d = (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0);
      deepest = Math.max(deepest, d);
      return d;
    };

    const { id } = (await postCampaign(h, webhookCampaign('windowed', { tag: 'wide' })).expect(202))
      .body as { id: string };
    const scheduler = h.startScheduler({ fanout: { windowJobs, pageSize } });
    await waitFor(async () => (await depth()) >= windowJobs, {
      intervalMs: 5,
      what: 'the window to fill',
    });
    // More passes, each of which would expand another page if the window let it.
    for (let pass = 0; pass < 5; pass++) {
      expect((await scheduler.runOnce()).expanded).toBe(0);
      await depth();
    }
    expect(deepest).toBeLessThanOrEqual(maxDepth);
    const held = await campaignView(h, id);
    expect(held).toMatchObject({ status: 'running', expanded: false });
    expect(held.counts.total).toBeGreaterThanOrEqual(windowJobs * PER_JOB);
    expect(held.counts.total).toBeLessThanOrEqual(maxDepth * PER_JOB);
    expect(held.counts.sent).toBe(0);

    // A worker drains the lane; the fan-out follows, still within the window.
    h.startWebhookWorker({ signingSecret: SECRET, concurrency: 2 });
    const done = await waitFor(
      async () => {
        await depth();
        const view = await campaignView(h, id);
        return view.status === 'completed' ? view : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 10, what: 'the campaign to complete' },
    );
    expect(deepest).toBeLessThanOrEqual(maxDepth);
    expect(done.counts).toMatchObject({ total: audience, sent: audience, queued: 0 });
    expect(receiver.received('w')).toBe(audience);
  });
});

describe('audience {all: true}', () => {
  let h: Harness;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    h = await createHarness();
    h.startWebhookWorker({ signingSecret: SECRET });
    // Pages of 40 recipients: the keyset pagination runs over many pages.
    h.startScheduler({ fanout: { pageSize: 40 } });
  });
  afterAll(async () => {
    await h.close();
    await receiver.stop();
  });

  it('reaches every stored recipient once, whatever their tags, and counts them all', async () => {
    await insertRecipients(h, 120, { prefix: 'all-a-', tag: 'a', webhookUrl: receiver.url('all') });
    await insertRecipients(h, 70, { prefix: 'all-b-', tag: 'b', webhookUrl: receiver.url('all') });
    // Recipients with no tags at all belong to everyone too.
    await h.db.pool.query(
      `INSERT INTO recipients (id, webhook_url)
       SELECT 'all-untagged-' || i, $1 FROM generate_series(1, 7) AS i`,
      [receiver.url('all')],
    );
    const stored = (
      await h.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM recipients')
    ).rows[0]!.n;
    expect(stored).toBe(197);

    const { id } = (await postCampaign(h, webhookCampaign('everyone', { all: true })).expect(202))
      .body as { id: string };
    const done = await waitForStatus(h, id, 'completed');
    expect(done.counts).toEqual({
      total: stored,
      queued: 0,
      sent: stored,
      failed: 0,
      skipped: 0,
      cancelled: 0,
    });
    const { rows } = await h.db.pool.query<{ recipients: number; deliveries: number }>(
      `SELECT count(DISTINCT recipient_id)::int AS recipients, count(*)::int AS deliveries
       FROM deliveries WHERE campaign_id = $1 AND status = 'sent'`,
      [id],
    );
    expect(rows).toEqual([{ recipients: stored, deliveries: stored }]);
    const received = await receiver.waitFor('all', stored);
    expect(received).toHaveLength(stored);
    expect(new Set(received.map((r) => (r.body as { id: string }).id)).size).toBe(stored);
  });
});

describe('campaign validation and state conflicts', () => {
  let h: Harness;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    h = await createHarness();
    h.startScheduler(); // no worker: a campaign with a reachable recipient stays running
    await insertRecipients(h, 1, {
      prefix: 'v-reach-',
      tag: 'reach',
      webhookUrl: receiver.url('v'),
    });
    await insertRecipients(h, 1, { prefix: 'v-none-', tag: 'unreachable' });
  });
  afterAll(async () => {
    await h.close();
    await receiver.stop();
  });

  const fieldsOf = (body: { errors?: { field: string }[] }) => body.errors?.map((e) => e.field);

  it('answers 422 without template or content, naming content', async () => {
    const { content: _content, ...body } = webhookCampaign('no content', { tag: 'reach' });
    const res = await postCampaign(h, body).expect(422);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(fieldsOf(res.body)).toContain('content');
  });

  it('answers 422 naming template for a template that does not exist', async () => {
    const { content: _content, ...body } = webhookCampaign('bad template', { tag: 'reach' });
    const res = await postCampaign(h, { ...body, template: 'no-such-template' }).expect(422);
    expect(fieldsOf(res.body)).toEqual(['template']);
  });

  it('answers 422 naming the audience field for an empty recipient list', async () => {
    const res = await postCampaign(h, webhookCampaign('empty', { recipientIds: [] })).expect(422);
    expect(fieldsOf(res.body)).toEqual(['audience.recipientIds']);
  });

  it.each([
    [{}, 'audience', /recipientIds.*tag.*all/],
    ['everyone', 'audience', /recipientIds.*tag.*all/],
    [{ ids: ['a'] }, 'audience', /recipientIds.*tag.*all/],
    [{ all: false }, 'audience.all', /expected true/],
    [{ recipientIds: 'v-1' }, 'audience.recipientIds', /expected array/],
  ])(
    'answers 422 for audience %j, naming %s and saying what it takes',
    async (audience, field, message) => {
      const res = await postCampaign(h, webhookCampaign('bad audience', audience)).expect(422);
      expect(res.body.errors).toEqual([
        { field, in: 'body', message: expect.stringMatching(message) },
      ]);
    },
  );

  it('answers 404 for an unknown campaign, and for an id that is not one', async () => {
    const unknown = '0192a7e0-0000-7000-8000-0000000000ff';
    const res = await request(h.app).get(`/v1/campaigns/${unknown}`).set(bearer(marketer));
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ status: 404, title: 'Not found' });
    await request(h.app).get('/v1/campaigns/nope').set(bearer(marketer)).expect(404);
    await request(h.app).post(`/v1/campaigns/${unknown}/cancel`).set(bearer(marketer)).expect(404);
  });

  it('answers 409 to resuming a running campaign, and leaves it running', async () => {
    const { id } = (await postCampaign(h, webhookCampaign('running', { tag: 'reach' })).expect(202))
      .body as { id: string };
    const res = await request(h.app)
      .post(`/v1/campaigns/${id}/resume`)
      .set(bearer(marketer))
      .expect(409);
    expect(res.body).toMatchObject({ status: 409, title: 'Conflict' });
    expect((await campaignView(h, id)).status).toBe('running');
  });

  it("refuses to show or cancel a campaign's notification as a whole, pointing at the campaign", async () => {
    const { id } = (await postCampaign(h, webhookCampaign('whole', { tag: 'reach' })).expect(202))
      .body as { id: string };
    const queued = await waitFor(
      async () => {
        const view = await campaignView(h, id);
        return view.counts.queued === 1 ? view : undefined;
      },
      { what: 'the campaign delivery queued' },
    );
    const { rows } = await h.db.pool.query<{ id: string }>(
      'SELECT id FROM notifications WHERE campaign_id = $1',
      [id],
    );
    const notificationId = rows[0]!.id;
    const service = testToken('notifications:read notifications:write', 'billing');

    const shown = await request(h.app)
      .get(`/v1/notifications/${notificationId}`)
      .set(bearer(service))
      .expect(409);
    expect(shown.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(shown.headers.link).toBe(`</v1/campaigns/${id}>; rel="related"`);
    expect(shown.body.detail).toContain(`GET /v1/campaigns/${id}`);

    const cancel = await request(h.app)
      .post(`/v1/notifications/${notificationId}/cancel`)
      .set(bearer(service))
      .expect(409);
    expect(cancel.body.detail).toContain(`POST /v1/campaigns/${id}/cancel`);
    expect((await campaignView(h, id)).counts).toEqual(queued.counts);
    const { rows: statuses } = await h.db.pool.query<{ status: string }>(
      'SELECT status FROM deliveries WHERE campaign_id = $1',
      [id],
    );
    expect(statuses.map((r) => r.status)).toEqual(['queued']);
  });

  it('answers 409 to cancelling a completed campaign, and leaves it completed', async () => {
    const created = await postCampaign(
      h,
      webhookCampaign('nobody reachable', { tag: 'unreachable' }),
    );
    const id = created.body.id as string;
    const done = await waitForStatus(h, id, 'completed');
    expect(done.counts).toMatchObject({ total: 1, skipped: 1, queued: 0 });
    await request(h.app).post(`/v1/campaigns/${id}/cancel`).set(bearer(marketer)).expect(409);
    await request(h.app).post(`/v1/campaigns/${id}/pause`).set(bearer(marketer)).expect(409);
    expect((await campaignView(h, id)).status).toBe('completed');
  });
});

describe('listing campaigns', () => {
  let h: Harness;
  const created: string[] = [];

  beforeAll(async () => {
    h = await createHarness(); // no scheduler: campaigns stay as created
    await insertRecipients(h, 1, { prefix: 'l-', tag: 'listed' });
    for (let i = 0; i < 5; i++) {
      const body = {
        ...webhookCampaign(`listed ${i}`, { tag: 'listed' }),
        sendAt: '2099-01-01T00:00:00Z',
      };
      created.push(((await postCampaign(h, body).expect(202)).body as { id: string }).id);
    }
    await request(h.app)
      .post(`/v1/campaigns/${created[1]}/cancel`)
      .set(bearer(marketer))
      .expect(202);
  });
  afterAll(async () => {
    await h.close();
  });

  const list = (query: string, token = marketer) =>
    request(h.app).get(`/v1/campaigns${query}`).set(bearer(token));

  it('pages through every campaign once, newest first, by following next', async () => {
    const seen: CampaignView[] = [];
    let query = '?limit=2';
    for (;;) {
      const res = await list(query).expect(200);
      const page = res.body as { items: CampaignView[]; next?: string };
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items);
      if (!page.next) break;
      expect(page.next).toBe(page.items[page.items.length - 1]!.id);
      query = `?limit=2&before=${page.next}`;
    }
    expect(seen.map((c) => c.id)).toEqual([...created].reverse());
    expect(seen[0]).toMatchObject({
      name: 'listed 4',
      status: 'scheduled',
      channels: ['webhook'],
      counts: { total: 0 },
    });
  });

  it('filters by status', async () => {
    const res = await list('?status=cancelled').expect(200);
    expect(res.body).toEqual({
      items: [expect.objectContaining({ id: created[1], status: 'cancelled' })],
    });
    expect((await list('?status=running').expect(200)).body).toEqual({ items: [] });
  });

  it('answers 422 naming each bad query parameter', async () => {
    const res = await list('?limit=0&before=nope&status=done').expect(422);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const errors = (res.body as { errors: object[] }).errors;
    expect(errors).toHaveLength(3);
    for (const field of ['before', 'limit', 'status'])
      expect(errors).toContainEqual({ field, in: 'query', message: expect.any(String) });
    await list('?limit=201').expect(422);
  });

  it('needs campaigns:read', async () => {
    await list('', testToken('campaigns:write', 'marketing')).expect(403);
    await request(h.app).get('/v1/campaigns').expect(401);
  });
});

describe('creating a campaign with an Idempotency-Key', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness(); // no scheduler: campaigns are only created here
  });
  afterAll(async () => {
    await h.close();
  });

  const create = (body: object, key: string) => postCampaign(h, body).set('Idempotency-Key', key);
  const campaignCount = async () =>
    (await h.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM campaigns')).rows[0]!.n;

  it('a retry answers the first response and starts no second campaign', async () => {
    const body = webhookCampaign('spring sale', { tag: 'everyone' });
    const first = await create(body, 'spring-sale').expect(202);
    const again = await create(body, 'spring-sale').expect(202);
    expect(again.body).toEqual(first.body);
    expect(await campaignCount()).toBe(1);
  });

  it('the same key with another campaign is a 409; concurrent tries start one', async () => {
    await create(webhookCampaign('other', { tag: 'everyone' }), 'spring-sale').expect(409);
    const body = webhookCampaign('summer sale', { all: true });
    const before = await campaignCount();
    const [a, b] = await Promise.all([
      create(body, 'summer-sale').expect(202),
      create(body, 'summer-sale').expect(202),
    ]);
    expect(a.body).toEqual(b.body);
    expect(await campaignCount()).toBe(before + 1);
  });

  it('keys of sends and of campaigns never meet', async () => {
    await request(h.app)
      .post('/v1/notifications')
      .set(bearer(testToken('notifications:write', 'marketing')))
      .set('Idempotency-Key', 'shared')
      .send({
        to: { webhookUrl: 'https://hooks.example.test/x' },
        channels: ['webhook'],
        content: { webhook: { payload: {} } },
      })
      .expect(202);
    await create(webhookCampaign('shared', { tag: 'everyone' }), 'shared').expect(202);
  });
});

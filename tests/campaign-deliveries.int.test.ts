// GET /v1/campaigns/:id/deliveries: after a campaign, which recipients it
// reached and which it did not, and why, a page at a time.
import request from 'supertest';
import { listCampaignDeliveries, type CampaignDelivery, type CampaignView } from '@herald/db';
import {
  bearer,
  createHarness,
  testToken,
  waitFor,
  WebhookReceiver,
  type Harness,
} from '@herald/testkit';

const SECRET = 'campaign-deliveries-test-secret';
const marketer = testToken('campaigns:write campaigns:read', 'marketing');
const crm = testToken('recipients:write', 'crm');
jest.setTimeout(60_000);

interface Page {
  items: CampaignDelivery[];
  next?: string;
}

describe('a campaign’s deliveries', () => {
  let h: Harness;
  let receiver: WebhookReceiver;
  let campaignId: string;
  const reached = Array.from({ length: 24 }, (_, i) => `ok-${String(i).padStart(2, '0')}`);
  const refused = ['gone-1', 'gone-2', 'gone-3'];
  const unreachable = ['no-address-1', 'no-address-2'];

  const get = (path: string, token = marketer) =>
    request(h.app).get(`/v1/campaigns/${path}`).set(bearer(token));

  beforeAll(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    receiver.behave('gone', { kind: 'status', status: 410 });
    h = await createHarness();
    const recipients = [
      ...reached.map((id) => [id, receiver.url('ok')]),
      ...refused.map((id) => [id, receiver.url('gone')]),
      ...unreachable.map((id) => [id, null]),
    ];
    await h.db.pool.query(
      `INSERT INTO recipients (id, webhook_url, tags)
       SELECT id, url, ARRAY['listed'] FROM unnest($1::text[], $2::text[]) AS r(id, url)`,
      [recipients.map((r) => r[0]), recipients.map((r) => r[1])],
    );
    const created = await request(h.app)
      .post('/v1/campaigns')
      .set(bearer(marketer))
      .send({
        name: 'listed',
        channels: ['webhook'],
        content: { webhook: { payload: { hello: 'world' } } },
        audience: { tag: 'listed' },
      })
      .expect(202);
    campaignId = created.body.id;
    h.startScheduler();
    h.startWebhookWorker({ signingSecret: SECRET });
    await waitFor(
      async () => {
        const view = (await get(campaignId).expect(200)).body as CampaignView;
        return view.status === 'completed' && view;
      },
      { timeoutMs: 30_000, what: 'the campaign to complete' },
    );
  });

  afterAll(async () => {
    await h.close();
    await receiver.stop();
  });

  async function everyPage(query: string): Promise<CampaignDelivery[]> {
    const seen: CampaignDelivery[] = [];
    let before = '';
    for (;;) {
      const page = (await get(`${campaignId}/deliveries?${query}${before}`).expect(200))
        .body as Page;
      seen.push(...page.items);
      if (!page.next) return seen;
      before = `&before=${page.next}`;
    }
  }

  it('pages through every delivery once, newest first, each naming its recipient', async () => {
    const first = (await get(`${campaignId}/deliveries?limit=7`).expect(200)).body as Page;
    expect(first.items).toHaveLength(7);
    expect(first.next).toBe(first.items[6]!.id);

    const all = await everyPage('limit=7');
    expect(all).toHaveLength(reached.length + refused.length + unreachable.length);
    const ids = all.map((d) => d.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([...ids].sort().reverse());
    expect(all.map((d) => d.recipientId).sort()).toEqual(
      [...reached, ...refused, ...unreachable].sort(),
    );
    const ok = all.find((d) => d.recipientId === 'ok-00')!;
    expect(ok).toEqual({
      id: expect.any(String),
      notificationId: expect.any(String),
      recipientId: 'ok-00',
      channel: 'webhook',
      lane: 'campaign',
      status: 'sent',
      attemptsCount: 1,
      providerMessageId: expect.any(String),
      createdAt: expect.any(String),
      queuedAt: expect.any(String),
      sentAt: expect.any(String),
      updatedAt: expect.any(String),
    });
  });

  it('filters by status: the ones the receiver refused, with the reason', async () => {
    const failed = (await get(`${campaignId}/deliveries?status=failed`).expect(200)).body as Page;
    expect(failed.next).toBeUndefined();
    expect(failed.items.map((d) => d.recipientId).sort()).toEqual(refused);
    for (const d of failed.items) {
      expect(d.status).toBe('failed');
      expect(d.reason).toMatch(/410/);
    }
    const skipped = (
      await get(`${campaignId}/deliveries?status=skipped&channel=webhook`).expect(200)
    ).body as Page;
    expect(skipped.items.map((d) => d.recipientId).sort()).toEqual(unreachable);
    expect((await get(`${campaignId}/deliveries?channel=email`).expect(200)).body).toEqual({
      items: [],
    });
  });

  it('a filtered page reads a bounded window: short pages with a next, and nothing missed', async () => {
    const pages: Page[] = [];
    let before: string | undefined;
    do {
      const page = await listCampaignDeliveries(
        h.db.pool,
        campaignId,
        { status: 'failed', limit: 50, before },
        5,
      );
      pages.push(page);
      before = page.next;
    } while (before);
    // 29 deliveries, 5 a window: 6 pages, some of them empty, and every failed one once.
    expect(pages).toHaveLength(6);
    expect(pages.some((p) => p.items.length === 0 && p.next)).toBe(true);
    expect(pages.flatMap((p) => p.items.map((d) => d.recipientId)).sort()).toEqual(refused);
  });

  it('walks the (campaign_id, id) index in order instead of sorting the campaign', async () => {
    const client = await h.db.pool.connect();
    try {
      await client.query('BEGIN');
      // A test campaign is too small for the planner to care: rule out the other ways to read it.
      for (const kind of ['seqscan', 'bitmapscan', 'sort'])
        await client.query(`SET LOCAL enable_${kind} = off`);
      const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(
        `EXPLAIN (FORMAT JSON) SELECT id FROM deliveries WHERE campaign_id = $1 ORDER BY id DESC LIMIT 51`,
        [campaignId],
      );
      const plan = JSON.stringify(rows[0]!['QUERY PLAN']);
      expect(plan).toContain('deliveries_campaign_id_id_idx');
      expect(plan).not.toContain('"Sort"');
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('an erased recipient’s delivery stays, without the recipient', async () => {
    await request(h.app).delete('/v1/recipients/ok-05').set(bearer(crm)).expect(204);
    const all = await everyPage('limit=200');
    expect(all.some((d) => d.recipientId === 'ok-05')).toBe(false);
    expect(all.filter((d) => d.recipientId === undefined)).toHaveLength(1);
  });

  it('answers 404 for an unknown campaign or an id that is not one', async () => {
    const res = await get('0190f5a2-7c3e-7b1a-9d4e-2f6a8b0c1d2f/deliveries').expect(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    await get('nope/deliveries').expect(404);
  });

  it('answers 422 naming each bad query parameter, unknown ones too', async () => {
    const res = await get(
      `${campaignId}/deliveries?limit=0&status=done&channel=fax&before=x&sort=asc`,
    ).expect(422);
    const fields = (res.body as { errors: { field: string; in: string }[] }).errors
      .map((e) => `${e.in}:${e.field}`)
      .sort();
    expect(fields).toEqual([
      'query:before',
      'query:channel',
      'query:limit',
      'query:sort',
      'query:status',
    ]);
  });

  it('needs campaigns:read', async () => {
    await get(`${campaignId}/deliveries`, testToken('campaigns:write', 'marketing')).expect(403);
    await request(h.app).get(`/v1/campaigns/${campaignId}/deliveries`).expect(401);
  });
});

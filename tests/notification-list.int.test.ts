import fc from 'fast-check';
import request from 'supertest';
import {
  DELIVERY_STATUSES,
  listNotifications,
  summarizeStatus,
  SUMMARY_STATUS_SQL,
  type DeliveryStatus,
} from '@herald/db';
import { bearer, createHarness, testToken, type Harness } from '@herald/testkit';

const sender = testToken('notifications:write notifications:read', 'billing');
const writerOnly = testToken('notifications:write', 'billing-writer');
const marketer = testToken('campaigns:write recipients:write', 'marketing');

interface Summary {
  id: string;
  owner: string;
  status: string;
  lane: string;
  channels: string[];
  category?: string;
  recipientId?: string;
  templateKey?: string;
  metadata?: Record<string, unknown>;
  createdAt: string;
  sendAt?: string;
  deliveries: { id: string; channel: string; status: string; reason?: string }[];
}
interface Page {
  items: Summary[];
  next?: string;
}
/** Resolves once the clock has moved on to the next millisecond. */
async function nextMillisecond(): Promise<void> {
  const now = Date.now();
  while (Date.now() === now) await new Promise((resolve) => setImmediate(resolve));
}

interface FieldError {
  field: string;
  in?: string;
}

describe('finding notifications (GET /v1/notifications)', () => {
  let h: Harness;
  /** Every transactional notification made, oldest first. */
  const made: { id: string; orderId: string }[] = [];
  let campaignNotification: string;
  let sentId: string;
  let failedId: string;
  let scheduledId: string;
  let cancelledId: string;
  let skippedId: string;
  let templated: string;
  let shopId: string;
  let numericOrder: string;
  let acceptedBetween: { since: string; until: string; ids: string[] };

  const send = async (body: object, orderId: string) => {
    const res = await request(h.app)
      .post('/v1/notifications')
      .set(bearer(sender))
      .send({ metadata: { orderId, shop: 'eu' }, ...body })
      .expect(202);
    made.push({ id: res.body.id as string, orderId });
    return res.body as { id: string; deliveries: { id: string }[] };
  };
  const webhook = (i: number, extra: object = {}) => ({
    to: { webhookUrl: `https://hooks.example.test/r/${i}` },
    channels: ['webhook'],
    content: { webhook: { payload: { i } } },
    ...extra,
  });
  const setStatus = (notificationId: string, status: DeliveryStatus) =>
    h.db.pool.query('UPDATE deliveries SET status = $2 WHERE notification_id = $1', [
      notificationId,
      status,
    ]);

  beforeAll(async () => {
    h = await createHarness();
    await request(h.app)
      .put('/v1/recipients/u-list')
      .set(bearer(testToken('recipients:write', 'crm')))
      .send({ webhookUrl: 'https://hooks.example.test/u-list', tags: ['vip'] })
      .expect(201);
    for (let i = 0; i < 6; i++) await send(webhook(i), `A-${i}`);
    sentId = made[1]!.id;
    failedId = made[2]!.id;
    await setStatus(sentId, 'sent');
    await setStatus(failedId, 'failed');

    // Ids carry their millisecond: the range's ends fall between two.
    await nextMillisecond();
    const since = new Date().toISOString();
    await nextMillisecond();
    const between = [
      (await send(webhook(10, { category: 'billing', lane: 'campaign' }), 'B-1')).id,
      (await send(webhook(11, { category: 'billing' }), 'B-2')).id,
    ];
    await nextMillisecond();
    acceptedBetween = { since, until: new Date().toISOString(), ids: between };

    scheduledId = (
      await send(webhook(20, { sendAt: new Date(Date.now() + 3_600_000).toISOString() }), 'C-1')
    ).id;
    cancelledId = (
      await send(webhook(21, { sendAt: new Date(Date.now() + 3_600_000).toISOString() }), 'C-2')
    ).id;
    await request(h.app)
      .post(`/v1/notifications/${cancelledId}/cancel`)
      .set(bearer(sender))
      .expect(200);
    // u-list has no email address: that delivery is skipped, with a reason.
    skippedId = (
      await send(
        {
          to: { recipientId: 'u-list' },
          channels: ['email'],
          content: { email: { subject: 'hi', text: 'hello' } },
        },
        'D-1',
      )
    ).id;
    await request(h.app)
      .put('/v1/templates/order-shipped')
      .set(bearer(testToken('templates:write', 'design')))
      .send({ channels: { webhook: { payload: { order: '{{ orderId }}' } } } })
      .expect(201);
    templated = (
      await send(
        {
          to: { recipientId: 'u-list' },
          channels: ['webhook'],
          template: 'order-shipped',
          data: { orderId: 'E-1' },
        },
        'E-1',
      )
    ).id;
    // A number in metadata matches its text.
    numericOrder = (
      await request(h.app)
        .post('/v1/notifications')
        .set(bearer(sender))
        .send(webhook(30, { metadata: { orderId: 42 } }))
        .expect(202)
    ).body.id as string;
    made.push({ id: numericOrder, orderId: '42' });
    // Another service's.
    shopId = (
      await request(h.app)
        .post('/v1/notifications')
        .set(bearer(testToken('notifications:write', 'shop')))
        .send(webhook(40))
        .expect(202)
    ).body.id as string;
    made.push({ id: shopId, orderId: '' });
    const campaign = await request(h.app)
      .post('/v1/campaigns')
      .set(bearer(marketer))
      .send({
        name: 'vip news',
        channels: ['webhook'],
        content: { webhook: { payload: { news: true } } },
        audience: { tag: 'vip' },
      })
      .expect(202);
    const row = await h.db.pool.query<{ id: string }>(
      'SELECT id FROM notifications WHERE campaign_id = $1',
      [campaign.body.id],
    );
    campaignNotification = row.rows[0]!.id;
  });
  afterAll(async () => {
    await h.close();
  });

  const list = (query: Record<string, string | number> = {}, token = sender) =>
    request(h.app).get('/v1/notifications').query(query).set(bearer(token));
  const ids = async (query: Record<string, string | number>) =>
    ((await list(query).expect(200)).body as Page).items.map((n) => n.id);
  const newestFirst = (list: string[]) => [...list].sort().reverse();

  it("pages through every transactional notification once, newest first, by following next; a campaign's is left out", async () => {
    const seen: Summary[] = [];
    let query: Record<string, string | number> = { limit: 4 };
    for (;;) {
      const page = (await list(query).expect(200)).body as Page;
      expect(page.items.length).toBeLessThanOrEqual(4);
      seen.push(...page.items);
      if (!page.next) break;
      query = { limit: 4, before: page.next };
    }
    expect(seen.map((n) => n.id)).toEqual(newestFirst(made.map((m) => m.id)));
    expect(seen.map((n) => n.id)).not.toContain(campaignNotification);
    const first = seen.find((n) => n.id === made[0]!.id)!;
    expect(first).toMatchObject({
      status: 'queued',
      lane: 'transactional',
      channels: ['webhook'],
      metadata: { orderId: 'A-0', shop: 'eu' },
      deliveries: [{ channel: 'webhook', status: 'queued' }],
    });
    expect(new Date(first.createdAt).toISOString()).toBe(first.createdAt);
  });

  it('finds what was sent for an order by its metadata, as text', async () => {
    expect(await ids({ 'metadata[orderId]': 'A-3' })).toEqual([made[3]!.id]);
    expect(await ids({ 'metadata[orderId]': '42' })).toEqual([numericOrder]);
    expect(await ids({ 'metadata[orderId]': 'B-2', 'metadata[shop]': 'eu' })).toEqual([
      acceptedBetween.ids[1],
    ]);
    expect(await ids({ 'metadata[orderId]': 'B-2', 'metadata[shop]': 'us' })).toEqual([]);
    expect(await ids({ 'metadata[nothing]': 'x' })).toEqual([]);
  });

  it("filters on the summary status, as each notification's own view gives it", async () => {
    const expected: Record<string, string[]> = {
      sent: [sentId],
      failed: [failedId],
      scheduled: [scheduledId],
      cancelled: [cancelledId],
      skipped: [skippedId],
    };
    for (const [status, want] of Object.entries(expected)) {
      const page = (await list({ status }).expect(200)).body as Page;
      expect(page.items.map((n) => n.id)).toEqual(want);
      for (const n of page.items) {
        const view = await request(h.app)
          .get(`/v1/notifications/${n.id}`)
          .set(bearer(sender))
          .expect(200);
        expect(view.body.status).toBe(status);
      }
    }
    const skipped = (await list({ status: 'skipped' }).expect(200)).body as Page;
    expect(skipped.items[0]!.deliveries[0]).toMatchObject({
      channel: 'email',
      status: 'skipped',
      reason: expect.any(String),
    });
  });

  it("filters by the sender's token subject, and shows it", async () => {
    const shop = (await list({ owner: 'shop' }).expect(200)).body as Page;
    expect(shop.items.map((n) => n.id)).toEqual([shopId]);
    expect(shop.items[0]).toMatchObject({ owner: 'shop' });
    const billing = await ids({ owner: 'billing' });
    expect(billing).toEqual(newestFirst(made.filter((m) => m.id !== shopId).map((m) => m.id)));
  });

  it('filters by channel, lane, category, recipient and template', async () => {
    expect(await ids({ channel: 'email' })).toEqual([skippedId]);
    expect(await ids({ lane: 'campaign' })).toEqual([acceptedBetween.ids[0]]);
    expect(await ids({ category: 'billing' })).toEqual(newestFirst(acceptedBetween.ids));
    expect(await ids({ recipientId: 'u-list' })).toEqual(newestFirst([skippedId, templated]));
    expect(await ids({ template: 'order-shipped' })).toEqual([templated]);
    expect(await ids({ channel: 'webhook', recipientId: 'u-list' })).toEqual([templated]);
  });

  it('takes a time range: accepted at or after since, before until', async () => {
    const { since, until, ids: between } = acceptedBetween;
    expect(await ids({ since, until })).toEqual(newestFirst(between));
    expect(await ids({ until: since })).toEqual(newestFirst(made.slice(0, 6).map((m) => m.id)));
  });

  it('looks through a bounded window per filtered page, and next goes on past it', async () => {
    // The oldest notification, behind a window of 3: pages come back empty until it is reached.
    const query = { limit: 10, metadata: { orderId: 'A-0' } };
    const pages: { items: number; next?: string }[] = [];
    let before: string | undefined;
    const found: string[] = [];
    do {
      const page = await listNotifications(h.db.pool, { ...query, before }, 3);
      pages.push({ items: page.items.length, next: page.next });
      found.push(...page.items.map((n) => n.id));
      before = page.next;
    } while (before);
    expect(found).toEqual([made[0]!.id]);
    // Every notification counts toward a window (the campaign's too); the last page has no next.
    const total = (await h.db.pool.query('SELECT count(*)::int AS n FROM notifications')).rows[0]
      .n as number;
    expect(pages.length).toBe(Math.ceil(total / 3));
    expect(pages.at(-1)!.next).toBeUndefined();
    const withMatch = pages.findIndex((p) => p.items === 1);
    expect(withMatch).toBe(Math.ceil(total / 3) - 1);
    expect(pages.filter((_, i) => i !== withMatch).every((p) => p.items === 0)).toBe(true);
    // Unfiltered, a page is never cut short by the window.
    const all = await listNotifications(h.db.pool, { limit: 10 }, 3);
    expect(all.items).toHaveLength(10);
  });

  it('answers 422 naming each bad or unknown query parameter, 403 without notifications:read', async () => {
    const res = await list({
      limit: 0,
      status: 'lost',
      channel: 'fax',
      lane: 'slow',
      before: 'x',
      since: 'yesterday',
      stauts: 'failed',
      'metadata[]': 'x',
    }).expect(422);
    const errors = (res.body as { errors: FieldError[] }).errors;
    expect(errors.map((e) => e.field).sort()).toEqual(
      ['before', 'channel', 'lane', 'limit', 'metadata[]', 'since', 'status', 'stauts'].sort(),
    );
    expect(errors.every((e) => e.in === 'query')).toBe(true);
    const backwards = await list({ since: acceptedBetween.until, until: acceptedBetween.since });
    expect(backwards.status).toBe(422);
    expect((backwards.body as { errors: FieldError[] }).errors.map((e) => e.field)).toEqual([
      'until',
    ]);
    // Postgres text holds no NUL: such a filter is refused, not a 500 from the query.
    const nul = await list({ category: 'a\u0000', template: '\u0000', 'metadata[a]': 'x\u0000' });
    expect(nul.status).toBe(422);
    expect((nul.body as { errors: FieldError[] }).errors.map((e) => e.field).sort()).toEqual([
      'category',
      'metadata[a]',
      'template',
    ]);
    await list({}, writerOnly).expect(403);
    await request(h.app).get('/v1/notifications').expect(401);
  });

  it('computes the summary status in SQL as summarizeStatus does, for any mix of deliveries', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...DELIVERY_STATUSES), { maxLength: 6 }),
        async (statuses) => {
          const { rows } = await h.db.pool.query<{ status: string }>(
            `SELECT ${SUMMARY_STATUS_SQL} AS status
             FROM (SELECT NULL::uuid AS id, NULL::delivery_status AS status WHERE false
                   UNION ALL
                   SELECT gen_random_uuid(), s FROM unnest($1::delivery_status[]) s) d`,
            [statuses],
          );
          expect(rows[0]!.status).toBe(summarizeStatus(statuses));
        },
      ),
      { numRuns: 200 },
    );
  });
});

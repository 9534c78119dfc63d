import request from 'supertest';
import { signUnsubscribeToken } from '@herald/core';
import type { CampaignView } from '@herald/db';
import {
  bearer,
  createHarness,
  FakeTelegramApi,
  SmtpSink,
  testToken,
  waitFor,
  TEST_UNSUBSCRIBE_SECRET,
  WebhookReceiver,
  type Harness,
} from '@herald/testkit';

const operator = testToken(
  'campaigns:write campaigns:read recipients:write recipients:read templates:write notifications:write',
  'content-team',
);
const SECRET = 'campaign-content-webhook-secret';
jest.setTimeout(60_000);

/** Every character MarkdownV2 reserves, and the backslash. */
const MARKDOWN_V2_SPECIALS = '_*[]()~`>#+-=|{}.!\\';

describe('campaign content: preferences, unsubscribe links and templates through the workers', () => {
  let h: Harness;
  let sink: SmtpSink;
  let telegram: FakeTelegramApi;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    sink = await new SmtpSink().start();
    telegram = await new FakeTelegramApi().start();
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    h = await createHarness();
    h.startEmailWorker({ smtpUrl: sink.url });
    h.startTelegramWorker({ apiUrl: telegram.url, botToken: telegram.token });
    h.startWebhookWorker({ signingSecret: SECRET });
    h.startScheduler();
  });
  afterAll(async () => {
    await h.close();
    await sink.stop();
    await telegram.stop();
    await receiver.stop();
  });

  const putRecipient = (id: string, profile: object) =>
    request(h.app).put(`/v1/recipients/${id}`).set(bearer(operator)).send(profile).expect(201);

  const putTemplate = (key: string, template: object) =>
    request(h.app).put(`/v1/templates/${key}`).set(bearer(operator)).send(template).expect(201);

  async function runCampaign(body: object): Promise<CampaignView> {
    const res = await request(h.app)
      .post('/v1/campaigns')
      .set(bearer(operator))
      .send(body)
      .expect(202);
    const id = res.body.id as string;
    return waitFor(
      async () => {
        const view = (
          await request(h.app).get(`/v1/campaigns/${id}`).set(bearer(operator)).expect(200)
        ).body as CampaignView;
        return view.status === 'completed' ? view : undefined;
      },
      { timeoutMs: 30_000, what: `campaign ${id} to complete` },
    );
  }

  const emailCampaign = (name: string, tag: string, extra: object = {}) => ({
    name,
    channels: ['email'],
    content: { email: { subject: name, text: `This is ${name}.` } },
    audience: { tag },
    ...extra,
  });

  it('skips, and counts, recipients who opted out of the category or the channel', async () => {
    await putRecipient('pref-ok', { email: 'pref-ok@example.test', tags: ['prefs'] });
    await putRecipient('pref-no-marketing', {
      email: 'pref-no-marketing@example.test',
      tags: ['prefs'],
      preferences: { categories: { marketing: false } },
    });
    await putRecipient('pref-no-email', {
      email: 'pref-no-email@example.test',
      tags: ['prefs'],
      preferences: { channels: { email: false }, categories: { marketing: true } },
    });

    const done = await runCampaign(emailCampaign('spring sale', 'prefs'));
    expect(done.category).toBe('marketing');
    expect(done.counts).toEqual({
      total: 3,
      queued: 0,
      sent: 1,
      failed: 0,
      skipped: 2,
      cancelled: 0,
    });
    const { rows } = await h.db.pool.query<{
      recipient_id: string;
      status: string;
      reason: string;
    }>(
      `SELECT recipient_id, status::text, reason FROM deliveries WHERE campaign_id = $1 ORDER BY 1`,
      [done.id],
    );
    expect(rows).toEqual([
      { recipient_id: 'pref-no-email', status: 'skipped', reason: 'recipient opted out of email' },
      {
        recipient_id: 'pref-no-marketing',
        status: 'skipped',
        reason: 'recipient opted out of category marketing',
      },
      { recipient_id: 'pref-ok', status: 'sent', reason: null },
    ]);
    expect(sink.mailTo('pref-ok@example.test')).toHaveLength(1);
    expect(sink.mailTo('pref-no-marketing@example.test')).toHaveLength(0);
    expect(sink.mailTo('pref-no-email@example.test')).toHaveLength(0);
  });

  it('sends one-click unsubscribe links that turn the category off for the next campaign', async () => {
    await putRecipient('news-a', { email: 'news-a@example.test', tags: ['news'] });
    await putRecipient('news-b', { email: 'news-b@example.test', tags: ['news'] });
    const first = await runCampaign(emailCampaign('issue 1', 'news', { category: 'newsletter' }));
    expect(first.counts).toMatchObject({ total: 2, sent: 2, skipped: 0 });

    const [mail] = await sink.waitForMail('news-a@example.test');
    const link = /^<http:\/\/herald\.test\/u\/([^>\s]+)>$/.exec(mail!.header('list-unsubscribe')!);
    expect(link).not.toBeNull();
    expect(mail!.header('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    const token = link![1]!;
    // Each recipient gets a link of their own.
    const [other] = await sink.waitForMail('news-b@example.test');
    expect(other!.header('list-unsubscribe')).not.toContain(token);

    // The mail client's one-click POST (RFC 8058), without any login.
    const res = await request(h.app)
      .post(`/u/${token}`)
      .type('form')
      .send('List-Unsubscribe=One-Click')
      .expect(200);
    expect(res.text).toContain('newsletter');
    const profile = await request(h.app)
      .get('/v1/recipients/news-a')
      .set(bearer(operator))
      .expect(200);
    expect(profile.body.preferences.categories).toEqual({ newsletter: false });

    const second = await runCampaign(emailCampaign('issue 2', 'news', { category: 'newsletter' }));
    expect(second.counts).toEqual({
      total: 2,
      queued: 0,
      sent: 1,
      failed: 0,
      skipped: 1,
      cancelled: 0,
    });
    expect(sink.mailTo('news-b@example.test').map((m) => m.parsed.subject)).toEqual([
      'issue 1',
      'issue 2',
    ]);
    expect(sink.mailTo('news-a@example.test').map((m) => m.parsed.subject)).toEqual(['issue 1']);
    // Another category still reaches the unsubscribed recipient.
    const other2 = await runCampaign(
      emailCampaign('product update', 'news', { category: 'product' }),
    );
    expect(other2.counts).toMatchObject({ sent: 2, skipped: 0 });

    // A person clicking the link (GET) unsubscribes too.
    const otherToken = /\/u\/([^>\s]+)>/.exec(other!.header('list-unsubscribe')!)![1]!;
    await request(h.app).get(`/u/${otherToken}`).expect(200);
    const b = await request(h.app).get('/v1/recipients/news-b').set(bearer(operator)).expect(200);
    expect(b.body.preferences.categories).toEqual({ newsletter: false });
  });

  it('answers 404 to an unsubscribe link that is not a valid token', async () => {
    const res = await request(h.app).get('/u/not-a-token').expect(404);
    expect(res.text).toContain('not valid');
    await request(h.app)
      .post('/u/not-a-token')
      .type('form')
      .send('List-Unsubscribe=One-Click')
      .expect(404);
  });

  it('shows the category on the unsubscribe page as text, never as markup', async () => {
    await putRecipient('xss-unsub', { email: 'xss-unsub@example.test' });
    const category = '<script>alert(1)</script>';
    const token = signUnsubscribeToken(TEST_UNSUBSCRIBE_SECRET, {
      recipientId: 'xss-unsub',
      category,
    });
    const get = await request(h.app).get(`/u/${token}`).expect(200);
    const post = await request(h.app)
      .post(`/u/${token}`)
      .type('form')
      .send('List-Unsubscribe=One-Click')
      .expect(200);
    for (const res of [get, post]) {
      expect(res.text).toContain('receive &lt;script&gt;alert(1)&lt;/script&gt; messages');
      expect(res.text).not.toContain('<script>');
      expect(res.headers['content-security-policy']).toBe(
        "default-src 'none'; style-src 'unsafe-inline'",
      );
    }
    // Unsubscribed all the same.
    const profile = await request(h.app)
      .get('/v1/recipients/xss-unsub')
      .set(bearer(operator))
      .expect(200);
    expect(profile.body.preferences.categories).toEqual({ [category]: false });
  });

  it('refuses a template or campaign category that is not a plain token, naming category', async () => {
    const template = await request(h.app)
      .put('/v1/templates/xss-category')
      .set(bearer(operator))
      .send({
        category: '<script>alert(1)</script>',
        channels: { email: { subject: 'Hi', text: 'Hi' } },
      })
      .expect(422);
    expect(template.body.errors).toEqual([expect.objectContaining({ field: 'category' })]);
    const campaign = await request(h.app)
      .post('/v1/campaigns')
      .set(bearer(operator))
      .send(emailCampaign('xss', 'news', { category: 'a b' }))
      .expect(422);
    expect(campaign.body.errors).toEqual([expect.objectContaining({ field: 'category' })]);
  });

  it('escapes template variables in email HTML, as received over SMTP', async () => {
    await putTemplate('greeting', {
      channels: {
        email: { subject: 'Hello', html: '<p>Hi {{ name }}</p>' },
        telegram: { text: '*Hi* {{ name }}' },
      },
    });
    await request(h.app)
      .post('/v1/notifications')
      .set(bearer(operator))
      .send({
        to: { email: 'xss@example.test' },
        channels: ['email'],
        template: 'greeting',
        data: { name: '<script>alert(1)</script>' },
      })
      .expect(202);
    const [mail] = await sink.waitForMail('xss@example.test');
    expect(mail!.parsed.html).toContain('<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;</p>');
    expect(mail!.parsed.html).not.toContain('<script>');
    // Not a campaign email: no unsubscribe link.
    expect(mail!.header('list-unsubscribe')).toBeUndefined();
  });

  it('escapes every MarkdownV2 special character of a variable and keeps the template markup', async () => {
    const name = `Ada ${MARKDOWN_V2_SPECIALS} Lovelace`;
    await request(h.app)
      .post('/v1/notifications')
      .set(bearer(operator))
      .send({
        to: { telegramChatId: '7001' },
        channels: ['telegram'],
        template: 'greeting',
        data: { name },
      })
      .expect(202);
    const [message] = await telegram.waitForMessages('7001', 1);
    expect(message!.parseMode).toBe('MarkdownV2');
    expect(message!.text).toBe(
      '*Hi* Ada \\_\\*\\[\\]\\(\\)\\~\\`\\>\\#\\+\\-\\=\\|\\{\\}\\.\\!\\\\ Lovelace',
    );
  });

  it('refuses a template send that lacks a variable with 422 naming data.<variable>', async () => {
    const res = await request(h.app)
      .post('/v1/notifications')
      .set(bearer(operator))
      .send({
        to: { email: 'x@example.test' },
        channels: ['email'],
        template: 'greeting',
        data: {},
      })
      .expect(422);
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'data.name' })]);
  });

  it('renders a campaign template per recipient', async () => {
    await putTemplate('per-recipient', {
      channels: {
        webhook: { payload: { greeting: 'Hello {{ recipient.id }}', edition: '{{ edition }}' } },
      },
    });
    const ids = ['tpl-1', 'tpl-2', 'tpl-3'];
    for (const id of ids) await putRecipient(id, { webhookUrl: receiver.url('tpl') });

    const missing = await request(h.app)
      .post('/v1/campaigns')
      .set(bearer(operator))
      .send({
        name: 'no edition',
        template: 'per-recipient',
        channels: ['webhook'],
        audience: { recipientIds: ids },
      })
      .expect(422);
    expect(missing.body.errors).toEqual([expect.objectContaining({ field: 'data.edition' })]);

    const done = await runCampaign({
      name: 'personal',
      template: 'per-recipient',
      data: { edition: 'May' },
      channels: ['webhook'],
      audience: { recipientIds: ids },
    });
    expect(done.counts).toMatchObject({ total: 3, sent: 3, queued: 0 });
    const received = await receiver.waitFor('tpl', 3);
    const payloads = received.map((r) => (r.body as { payload: unknown }).payload);
    expect(payloads).toHaveLength(3);
    expect(payloads).toEqual(
      expect.arrayContaining(ids.map((id) => ({ greeting: `Hello ${id}`, edition: 'May' }))),
    );
    expect(received.every((r) => r.signatureValid)).toBe(true);
  });
});

import https from 'node:https';
import request from 'supertest';
import webpush from 'web-push';
import { PAUSE_ONLY_LIMITER } from '@herald/worker-kit';
import {
  bearer,
  createHarness,
  FakeTelegramApi,
  PushService,
  SmtpSink,
  testToken,
  waitFor,
  type Harness,
} from '@herald/testkit';

const writer = testToken('notifications:write notifications:read', 'channels');
jest.setTimeout(60_000);

async function notificationOf(h: Harness, id: string, status?: string) {
  return waitFor(
    async () => {
      const v = (await request(h.app).get(`/v1/notifications/${id}`).set(bearer(writer))).body;
      return status === undefined || v.status === status ? v : undefined;
    },
    { what: `notification ${id}${status ? ` ${status}` : ''}` },
  );
}

describe('Telegram end to end (fake Bot API)', () => {
  let h: Harness;
  let api: FakeTelegramApi;

  beforeAll(async () => {
    api = await new FakeTelegramApi().start();
    h = await createHarness();
    h.startTelegramWorker({ apiUrl: api.url, botToken: api.token, perChatIntervalMs: 400 });
  });
  afterAll(async () => {
    await h.close();
    await api.stop();
  });

  const send = (to: object, text: string, extra: object = {}) =>
    request(h.app)
      .post('/v1/notifications')
      .set(bearer(writer))
      .send({ to, channels: ['telegram'], content: { telegram: { text, ...extra } } })
      .expect(202);

  it('escapes every MarkdownV2 special character of plain text, as received by the API', async () => {
    const text = 'Order _1_ *bold* [x](y) ~z~ `c` >q #h +p -m =e |p {b} .d !x \\ done';
    await send({ telegramChatId: '1001' }, text);
    const [message] = await api.waitForMessages('1001', 1);
    expect(message!.parseMode).toBe('MarkdownV2');
    expect(message!.text).toBe(
      'Order \\_1\\_ \\*bold\\* \\[x\\]\\(y\\) \\~z\\~ \\`c\\` \\>q \\#h \\+p \\-m \\=e \\|p \\{b\\} \\.d \\!x \\\\ done',
    );
  });

  it('sends markup as is when a parse mode is given', async () => {
    await send({ telegramChatId: '1002' }, '<b>Hi</b> &amp; bye', { parseMode: 'HTML' });
    const [message] = await api.waitForMessages('1002', 1);
    expect(message).toMatchObject({ parseMode: 'HTML', text: '<b>Hi</b> &amp; bye' });
  });

  it('fails a message over 4096 characters permanently, without calling the API', async () => {
    const res = await send({ telegramChatId: '1003' }, 'x'.repeat(5000));
    const n = await notificationOf(h, res.body.id, 'failed');
    expect(n.deliveries[0].reason).toMatch(/^content_too_long/);
    expect(api.requests('1003')).toBe(0);
  });

  it('paces one chat (one message per interval) across deliveries', async () => {
    await Promise.all([1, 2, 3].map((i) => send({ telegramChatId: '1004' }, `m${i}`)));
    const messages = await api.waitForMessages('1004', 3);
    const times = messages.map((m) => m.at).sort((a, b) => a - b);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(350);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(350);
  });

  it('marks a chat that blocked the bot unreachable; the next notification skips it', async () => {
    await h.db.prisma.recipient.create({ data: { id: 'tg-blocked', telegramChatId: '1005' } });
    api.behave('1005', { kind: 'blocked' });
    const first = await send({ recipientId: 'tg-blocked' }, 'hello');
    const n = await notificationOf(h, first.body.id, 'failed');
    expect(n.deliveries[0].reason).toMatch(/^recipient_blocked/);
    await waitFor(async () => {
      const r = await h.db.prisma.recipient.findUniqueOrThrow({ where: { id: 'tg-blocked' } });
      return (r.unreachable as Record<string, unknown>).telegram !== undefined;
    });
    const second = await send({ recipientId: 'tg-blocked' }, 'again');
    expect(second.body.deliveries[0]).toMatchObject({
      status: 'skipped',
      reason: expect.stringMatching(/unreachable/),
    });
    expect(api.requests('1005')).toBe(1);
  });

  it('marks a chat that does not exist (400 chat not found) unreachable; the next notification skips it', async () => {
    await h.db.prisma.recipient.create({ data: { id: 'tg-no-chat', telegramChatId: '1010' } });
    api.behave('1010', { kind: 'chat_not_found' });
    const first = await send({ recipientId: 'tg-no-chat' }, 'hello');
    const n = await notificationOf(h, first.body.id, 'failed');
    expect(n.deliveries[0]).toMatchObject({
      attemptsCount: 1,
      reason: expect.stringMatching(/^recipient_not_found/),
    });
    const unreachable = await waitFor(async () => {
      const r = await h.db.prisma.recipient.findUniqueOrThrow({ where: { id: 'tg-no-chat' } });
      return (r.unreachable as Record<string, { reason: string }>).telegram;
    });
    expect(unreachable.reason).toMatch(/^recipient_not_found: .*chat not found/);
    const second = await send({ recipientId: 'tg-no-chat' }, 'again');
    expect(second.body.deliveries[0]).toMatchObject({
      status: 'skipped',
      reason: expect.stringMatching(/unreachable/),
    });
    expect(api.requests('1010')).toBe(1);
  });

  it('follows migrate_to_chat_id and stores the new chat id', async () => {
    await h.db.prisma.recipient.create({ data: { id: 'tg-group', telegramChatId: '-1006' } });
    api.behave('-1006', { kind: 'migrate', to: '-1001006' });
    const res = await send({ recipientId: 'tg-group' }, 'to the supergroup');
    await api.waitForMessages('-1001006', 1);
    await notificationOf(h, res.body.id, 'sent');
    await waitFor(
      async () =>
        (await h.db.prisma.recipient.findUniqueOrThrow({ where: { id: 'tg-group' } }))
          .telegramChatId === '-1001006',
    );
  });

  it('waits out a 429 retry_after (channel paused, no attempt lost) and then delivers', async () => {
    api.behave('1007', { kind: 'rate_limit', retryAfterSeconds: 1, times: 1 });
    const res = await send({ telegramChatId: '1007' }, 'after the flood wait');
    const started = Date.now();
    await api.waitForMessages('1007', 1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const n = await notificationOf(h, res.body.id, 'sent');
    expect(n.deliveries[0].attempts.map((a: { outcome: string }) => a.outcome)).toEqual([
      'rate_limited',
      'sent',
    ]);
  });
  it('a 429 retry_after pauses the whole channel, other chats too, without spending an attempt', async () => {
    api.behave('1008', { kind: 'rate_limit', retryAfterSeconds: 1, times: 1 });
    const limited = await send({ telegramChatId: '1008' }, 'flood');
    await waitFor(() => api.requests('1008') >= 1, { what: 'the 429' });
    const refusedAt = Date.now();
    // Both lanes, for every replica.
    for (const lane of ['telegram.transactional', 'telegram.campaign']) {
      await waitFor(
        async () => (await h.queues.get(lane)!.getRateLimitTtl(PAUSE_ONLY_LIMITER.max)) > 500,
        { what: `${lane} paused` },
      );
    }
    const other = await send({ telegramChatId: '1009' }, 'another chat');
    const [otherMessage] = await api.waitForMessages('1009', 1);
    expect(otherMessage!.at - refusedAt).toBeGreaterThanOrEqual(800);
    await notificationOf(h, other.body.id, 'sent');
    const n = await notificationOf(h, limited.body.id, 'sent');
    expect(n.deliveries[0].attemptsCount).toBe(1);
    expect(
      n.deliveries[0].attempts.map((a: { attempt: number; outcome: string }) => [
        a.attempt,
        a.outcome,
      ]),
    ).toEqual([
      [1, 'rate_limited'],
      [1, 'sent'],
    ]);
    expect(api.requests('1008')).toBe(2);
  });
});

describe('Web Push end to end, and fallback push → email', () => {
  let h: Harness;
  let push: PushService;
  let sink: SmtpSink;
  let agent: https.Agent;
  const vapid = { ...webpush.generateVAPIDKeys(), subject: 'mailto:ops@example.test' };

  beforeAll(async () => {
    push = await new PushService({ expectVapidPublicKey: vapid.publicKey }).start();
    sink = await new SmtpSink().start();
    agent = new https.Agent({ ca: push.ca, keepAlive: true });
    h = await createHarness();
    h.startPushWorker({ vapid, agent });
    h.startEmailWorker({ smtpUrl: sink.url });
  });
  afterAll(async () => {
    await h.close();
    agent.destroy();
    await push.stop();
    await sink.stop();
  });

  const sendPush = (to: object) =>
    request(h.app)
      .post('/v1/notifications')
      .set(bearer(writer))
      .send({ to, channels: ['push'], content: { push: { title: 'T', body: 'B' } } })
      .expect(202);

  it('delivers an encrypted, VAPID-signed push with a short TTL for transactional traffic', async () => {
    const subscription = push.createSubscription('sub-1');
    const res = await request(h.app)
      .post('/v1/notifications')
      .set(bearer(writer))
      .send({
        to: { pushSubscription: subscription },
        channels: ['push'],
        content: { push: { title: 'Hi', body: 'There', url: 'https://app.example.test/x' } },
      })
      .expect(202);
    const [message] = await push.waitForMessages('sub-1', 1);
    expect(message!.payload).toMatchObject({
      title: 'Hi',
      body: 'There',
      url: 'https://app.example.test/x',
      deliveryId: res.body.deliveries[0].id,
    });
    expect(message!.urgency).toBe('high');
    expect(message!.ttl).toBe(900);
    await notificationOf(h, res.body.id, 'sent');
  });

  it('deletes a stored subscription the push service answers 404 for: failed, dead-lettered, not retried', async () => {
    const subscription = push.createSubscription('sub-404');
    await h.db.prisma.recipient.create({
      data: {
        id: 'u-push-404',
        pushSubscriptions: {
          create: {
            id: '0192a7e0-0000-7000-8000-000000000404',
            endpoint: subscription.endpoint,
            p256dh: subscription.keys.p256dh,
            auth: subscription.keys.auth,
          },
        },
      },
    });
    push.behave('sub-404', { kind: 'status', status: 404 });
    const res = await sendPush({ recipientId: 'u-push-404' });
    const n = await notificationOf(h, res.body.id, 'failed');
    expect(n.deliveries[0]).toMatchObject({
      attemptsCount: 1,
      reason: expect.stringMatching(/^subscription_gone/),
    });
    await waitFor(
      async () =>
        (await h.db.prisma.pushSubscription.count({
          where: { endpoint: subscription.endpoint },
        })) === 0,
      { what: 'the subscription to be deleted' },
    );
    expect(await h.dlq('push').getJob(res.body.deliveries[0].id)).toBeDefined();
    expect(push.requests('sub-404')).toHaveLength(1);
  });

  it('fails a push the service refuses as too large (413) at once: dead-lettered, not retried', async () => {
    const subscription = push.createSubscription('sub-413');
    push.behave('sub-413', { kind: 'status', status: 413 });
    const res = await sendPush({ pushSubscription: subscription });
    const deliveryId = res.body.deliveries[0].id as string;
    const n = await notificationOf(h, res.body.id, 'failed');
    expect(n.deliveries[0]).toMatchObject({
      attemptsCount: 1,
      reason: expect.stringMatching(/^content_rejected/),
    });
    const dead = await waitFor(() => h.dlq('push').getJob(deliveryId), { what: 'the dead letter' });
    expect(dead.data).toMatchObject({
      attemptsMade: 1,
      errors: [expect.objectContaining({ code: 'content_rejected' })],
    });
    expect(push.requests('sub-413')).toHaveLength(1);
  });

  it('waits out a push service 429 for its Retry-After, then delivers', async () => {
    const subscription = push.createSubscription('sub-429');
    push.behave('sub-429', { kind: 'status', status: 429, times: 1, retryAfter: 1 });
    const res = await sendPush({ pushSubscription: subscription });
    await push.waitForMessages('sub-429', 1, 10_000);
    const [refused, accepted] = push.requests('sub-429');
    expect(refused!.status).toBe(429);
    expect(accepted!.status).toBe(201);
    expect(accepted!.at - refused!.at).toBeGreaterThanOrEqual(1000);
    const n = await notificationOf(h, res.body.id, 'sent');
    expect(n.deliveries[0].attempts.map((a: { outcome: string }) => a.outcome)).toEqual([
      'rate_limited',
      'sent',
    ]);
  });

  it('falls back to email after the push service answers 410, and forgets the subscription', async () => {
    const subscription = push.createSubscription('sub-gone');
    await h.db.prisma.recipient.create({
      data: {
        id: 'u-fallback',
        email: 'fallback@example.test',
        pushSubscriptions: {
          create: {
            id: '0192a7e0-0000-7000-8000-000000000001',
            endpoint: subscription.endpoint,
            p256dh: subscription.keys.p256dh,
            auth: subscription.keys.auth,
          },
        },
      },
    });
    push.behave('sub-gone', { kind: 'status', status: 410 });
    const res = await request(h.app)
      .post('/v1/notifications')
      .set(bearer(writer))
      .send({
        to: { recipientId: 'u-fallback' },
        channels: ['push', 'email'],
        strategy: 'fallback',
        content: {
          push: { title: 'T', body: 'B' },
          email: { subject: 'Fallback', text: 'by email' },
        },
      })
      .expect(202);
    expect(
      res.body.deliveries.map((d: { channel: string; status: string }) => [d.channel, d.status]),
    ).toEqual([
      ['push', 'queued'],
      ['email', 'pending'],
    ]);
    const [mail] = await sink.waitForMail('fallback@example.test');
    expect(mail!.parsed.subject).toBe('Fallback');
    const n = await notificationOf(h, res.body.id, 'sent');
    expect(
      n.deliveries.map((d: { channel: string; status: string }) => [d.channel, d.status]),
    ).toEqual([
      ['push', 'failed'],
      ['email', 'sent'],
    ]);
    expect(n.deliveries[0].reason).toMatch(/^subscription_gone/);
    expect(
      await h.db.prisma.pushSubscription.count({ where: { endpoint: subscription.endpoint } }),
    ).toBe(0);
  });

  it('skips the fallback channels once the first one delivers', async () => {
    const subscription = push.createSubscription('sub-ok');
    const res = await request(h.app)
      .post('/v1/notifications')
      .set(bearer(writer))
      .send({
        to: { pushSubscription: subscription, email: 'never@example.test' },
        channels: ['push', 'email'],
        strategy: 'fallback',
        content: { push: { title: 'T', body: 'B' }, email: { subject: 'S', text: 'T' } },
      })
      .expect(202);
    const n = await waitFor(async () => {
      const v = await notificationOf(h, res.body.id);
      return v.deliveries[1].status === 'skipped' ? v : undefined;
    });
    expect(n.status).toBe('sent');
    expect(n.deliveries[1].reason).toMatch(/delivered by push/);
    expect(sink.mailTo('never@example.test')).toHaveLength(0);
  });
});

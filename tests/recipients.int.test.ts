import request from 'supertest';
import webpush from 'web-push';
import { markAddressUnreachable } from '@herald/db';
import { bearer, createHarness, SmtpSink, testToken, waitFor, type Harness } from '@herald/testkit';

const manager = testToken('recipients:write recipients:read', 'crm');
const reader = testToken('recipients:read', 'support');
const writerOnly = testToken('recipients:write', 'crm-writer');
const sender = testToken('notifications:write notifications:read', 'billing');

const endpoint = (name: string) => `https://push.example.test/send/${name}`;
const keys = {
  p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUK',
  auth: 'tBHItJI5svbpez7KI4CCXg',
};

interface FieldError {
  field: string;
  in?: string;
  message: string;
}

const fieldsOf = (body: { errors?: FieldError[] }) => (body.errors ?? []).map((e) => e.field);

describe('recipients API: profiles, push subscriptions, VAPID key, erasure', () => {
  let h: Harness;
  let sink: SmtpSink;
  const vapidPublicKey = webpush.generateVAPIDKeys().publicKey;

  beforeAll(async () => {
    sink = await new SmtpSink().start();
    h = await createHarness({ vapidPublicKey });
  });

  afterAll(async () => {
    await h.close();
    await sink.stop();
  });

  const put = (id: string, body: unknown, token = manager) =>
    request(h.app)
      .put(`/v1/recipients/${encodeURIComponent(id)}`)
      .set(bearer(token))
      .send(body as object);
  const get = (id: string, token = manager) =>
    request(h.app)
      .get(`/v1/recipients/${encodeURIComponent(id)}`)
      .set(bearer(token));
  const subscribe = (id: string, body: unknown, token = manager) =>
    request(h.app)
      .post(`/v1/recipients/${encodeURIComponent(id)}/push-subscriptions`)
      .set(bearer(token))
      .send(body as object);
  const unsubscribe = (id: string, url: string) =>
    request(h.app)
      .delete(`/v1/recipients/${encodeURIComponent(id)}/push-subscriptions`)
      .query({ endpoint: url })
      .set(bearer(manager));
  const notify = (body: object) =>
    request(h.app).post('/v1/notifications').set(bearer(sender)).send(body).expect(202);
  const emailTo = (recipientId: string, extra: object = {}) =>
    notify({
      to: { recipientId },
      channels: ['email'],
      content: { email: { subject: 'Hello', text: 'Hi there' } },
      ...extra,
    });

  describe('PUT and GET', () => {
    it('creates a recipient (201), then replaces its whole profile (200)', async () => {
      const created = await put('u-profile', {
        email: 'ada@example.test',
        telegramChatId: 123456789,
        webhookUrl: 'https://hooks.example.test/ada',
        locale: 'pt-br',
        timezone: 'europe/paris',
        tags: ['beta', 'vip', 'beta'],
        preferences: { channels: { telegram: false }, categories: { marketing: false } },
      }).expect(201);
      expect(created.headers.location).toBe('/v1/recipients/u-profile');
      expect(created.body).toEqual({
        id: 'u-profile',
        email: 'ada@example.test',
        telegramChatId: '123456789',
        webhookUrl: 'https://hooks.example.test/ada',
        locale: 'pt-BR',
        timezone: 'Europe/Paris',
        tags: ['beta', 'vip'],
        preferences: { channels: { telegram: false }, categories: { marketing: false } },
        unreachable: {},
        pushSubscriptions: [],
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });

      const replaced = await put('u-profile', {
        email: 'ada@new.example.test',
        tags: ['vip'],
      }).expect(200);
      expect(replaced.headers.location).toBeUndefined();
      expect(replaced.body).toMatchObject({
        id: 'u-profile',
        email: 'ada@new.example.test',
        telegramChatId: null,
        webhookUrl: null,
        locale: null,
        timezone: null,
        tags: ['vip'],
        preferences: { channels: {}, categories: {} },
        createdAt: created.body.createdAt,
      });
      expect(Date.parse(replaced.body.updatedAt)).toBeGreaterThanOrEqual(
        Date.parse(created.body.updatedAt),
      );

      const fetched = await get('u-profile', reader).expect(200);
      expect(fetched.body).toEqual(replaced.body);
    });

    it('accepts explicit nulls and an empty body (everything cleared)', async () => {
      await put('u-empty', { email: 'e@example.test' }).expect(201);
      const cleared = await put('u-empty', { email: null, locale: null }).expect(200);
      expect(cleared.body).toMatchObject({ email: null, locale: null, tags: [] });
      await put('u-empty', {}).expect(200);
    });

    it('clears the unreachable mark of a channel whose address changed, and only that one', async () => {
      await put('u-unreachable', { email: 'u@example.test', telegramChatId: '1001' }).expect(201);
      await markAddressUnreachable(h.db.pool, 'u-unreachable', 'telegram', 'recipient_blocked');
      await markAddressUnreachable(h.db.pool, 'u-unreachable', 'email', 'recipient_not_found');
      const before = await get('u-unreachable').expect(200);
      expect(Object.keys(before.body.unreachable).sort()).toEqual(['email', 'telegram']);
      expect(before.body.unreachable.telegram).toMatchObject({ reason: 'recipient_blocked' });

      const after = await put('u-unreachable', {
        email: 'u@example.test',
        telegramChatId: '1002',
      }).expect(200);
      expect(Object.keys(after.body.unreachable)).toEqual(['email']);

      const removed = await put('u-unreachable', { telegramChatId: '1002' }).expect(200);
      expect(removed.body.unreachable).toEqual({});
    });

    it('answers 404 problems for unknown recipients', async () => {
      const res = await get('nobody').expect(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ status: 404, detail: expect.stringContaining('nobody') });
      await request(h.app).delete('/v1/recipients/nobody').set(bearer(manager)).expect(404);
    });
  });

  describe('validation', () => {
    const invalid = async (body: unknown, id = 'u-valid') => {
      const res = await put(id, body).expect(422);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      return res.body as { errors: FieldError[] };
    };

    it('names each bad field', async () => {
      expect(fieldsOf(await invalid({ email: 'not-an-email' }))).toEqual(['email']);
      expect(fieldsOf(await invalid({ timezone: 'Mars/Olympus_Mons' }))).toEqual(['timezone']);
      expect(fieldsOf(await invalid({ timezone: '+01:00' }))).toEqual(['timezone']);
      expect(fieldsOf(await invalid({ nickname: 'Ada' }))).toEqual(['nickname']);
      expect(fieldsOf(await invalid({ preferences: { channels: { email: 'no' } } }))).toEqual([
        'preferences.channels.email',
      ]);
      expect(fieldsOf(await invalid({ preferences: { channels: { fax: false } } }))).toEqual([
        'preferences.channels.fax',
      ]);
      expect(fieldsOf(await invalid({ preferences: { categories: { marketing: 1 } } }))).toEqual([
        'preferences.categories.marketing',
      ]);
      expect(
        fieldsOf(await invalid({ preferences: { categories: { 'bad key!': false } } })),
      ).toEqual(['preferences.categories.bad key!']);
      expect(fieldsOf(await invalid({ locale: 'not a locale' }))).toEqual(['locale']);
      expect(fieldsOf(await invalid({ locale: 'en-' }))).toEqual(['locale']);
      expect(fieldsOf(await invalid({ telegramChatId: 'chat' }))).toEqual(['telegramChatId']);
      expect(fieldsOf(await invalid({ webhookUrl: 'ftp://x.example.test' }))).toEqual([
        'webhookUrl',
      ]);
      expect(fieldsOf(await invalid({ tags: ['ok', 'not ok'] }))).toEqual(['tags.1']);
      expect(fieldsOf(await invalid({ tags: ['x'.repeat(65)] }))).toEqual(['tags.0']);
      expect(
        fieldsOf(await invalid({ tags: Array.from({ length: 51 }, (_, i) => `t${i}`) })),
      ).toEqual(['tags']);
      expect(fieldsOf(await invalid({ email: 'a@\u0000.test' }))).toEqual(['email']);
      expect(fieldsOf(await invalid(['email']))).toEqual(['(body)']);
      const several = await invalid({ email: 'x', timezone: 'Nowhere/Town', extra: 1 });
      expect(fieldsOf(several).sort()).toEqual(['email', 'extra', 'timezone']);
      await get('u-valid').expect(404); // nothing was stored
    });

    it('names the path id when it is not a valid recipient id', async () => {
      const res = await put('has space', { email: 'a@example.test' }).expect(422);
      expect(res.body.errors).toEqual([expect.objectContaining({ field: 'id', in: 'path' })]);
      const long = await get('x'.repeat(201)).expect(422);
      expect(fieldsOf(long.body)).toEqual(['id']);
    });

    it('refuses bodies that are not JSON objects without a 500', async () => {
      await request(h.app)
        .put('/v1/recipients/u-valid')
        .set(bearer(manager))
        .set('Content-Type', 'text/plain')
        .send('email=a@example.test')
        .expect(415);
      await request(h.app)
        .put('/v1/recipients/u-valid')
        .set(bearer(manager))
        .set('Content-Type', 'application/json')
        .send('{"email": ')
        .expect(400);
      await request(h.app)
        .post('/v1/recipients/u-valid/push-subscriptions')
        .set(bearer(manager))
        .set('Content-Type', 'application/json')
        .send('[]')
        .expect(422);
    });
  });

  describe('scopes', () => {
    it('needs recipients:write to change and recipients:read to read', async () => {
      await request(h.app).get('/v1/recipients/u-scope').expect(401);
      await put('u-scope', { email: 's@example.test' }, reader).expect(403);
      await put('u-scope', { email: 's@example.test' }, sender).expect(403);
      await put('u-scope', { email: 's@example.test' }, writerOnly).expect(201);
      await get('u-scope', writerOnly).expect(403);
      await get('u-scope', sender).expect(403);
      await get('u-scope', reader).expect(200);
      await subscribe('u-scope', { endpoint: endpoint('scope'), keys }, reader).expect(403);
      await request(h.app)
        .delete('/v1/recipients/u-scope/push-subscriptions')
        .query({ endpoint: endpoint('scope') })
        .set(bearer(reader))
        .expect(403);
      await request(h.app).delete('/v1/recipients/u-scope').set(bearer(reader)).expect(403);
      await get('u-scope', reader).expect(200);
    });
  });

  describe('push subscriptions', () => {
    it('adds, lists without keys, moves between recipients and deletes a subscription', async () => {
      await put('u-push-a', {}).expect(201);
      await put('u-push-b', {}).expect(201);
      const url = endpoint('browser-1');

      // What PushSubscription.toJSON() gives in a browser.
      const added = await subscribe('u-push-a', {
        endpoint: url,
        expirationTime: null,
        keys,
      }).expect(201);
      expect(added.body).toEqual({
        id: expect.any(String),
        endpoint: url,
        createdAt: expect.any(String),
      });
      const a = await get('u-push-a').expect(200);
      expect(a.body.pushSubscriptions).toEqual([
        { id: added.body.id, endpoint: url, createdAt: added.body.createdAt },
      ]);
      expect(JSON.stringify(a.body)).not.toContain(keys.p256dh);
      expect(JSON.stringify(a.body)).not.toContain(keys.auth);

      // The same browser now belongs to someone else.
      const moved = await subscribe('u-push-b', {
        endpoint: url,
        keys: { ...keys, auth: 'new-auth' },
      }).expect(201);
      expect(moved.body.endpoint).toBe(url);
      expect((await get('u-push-a').expect(200)).body.pushSubscriptions).toEqual([]);
      expect((await get('u-push-b').expect(200)).body.pushSubscriptions).toEqual([
        expect.objectContaining({ endpoint: url }),
      ]);
      const stored = await h.db.prisma.pushSubscription.findMany({ where: { endpoint: url } });
      expect(stored).toEqual([
        expect.objectContaining({ recipientId: 'u-push-b', auth: 'new-auth' }),
      ]);

      // Sending now goes to the new owner's browser.
      const sent = await notify({
        to: { recipientId: 'u-push-b' },
        channels: ['push'],
        content: { push: { title: 'T', body: 'B' } },
      });
      expect(sent.body.deliveries).toEqual([expect.objectContaining({ status: 'queued' })]);

      await unsubscribe('u-push-a', url).expect(404);
      await unsubscribe('u-push-b', url).expect(204);
      await unsubscribe('u-push-b', url).expect(404);
      expect((await get('u-push-b').expect(200)).body.pushSubscriptions).toEqual([]);
    });

    it('clears an unreachable push mark when a browser subscribes again', async () => {
      await put('u-push-c', {}).expect(201);
      await markAddressUnreachable(h.db.pool, 'u-push-c', 'push', 'recipient_not_found');
      await subscribe('u-push-c', { endpoint: endpoint('browser-c'), keys }).expect(201);
      expect((await get('u-push-c').expect(200)).body.unreachable).toEqual({});
    });

    it('answers 404 for an unknown recipient and 422 naming bad fields', async () => {
      await subscribe('nobody', { endpoint: endpoint('nobody'), keys }).expect(404);
      expect(
        await h.db.prisma.pushSubscription.count({ where: { endpoint: endpoint('nobody') } }),
      ).toBe(0);
      await put('u-push-d', {}).expect(201);
      const http = await subscribe('u-push-d', {
        endpoint: 'http://push.example.test/x',
        keys,
      }).expect(422);
      expect(fieldsOf(http.body)).toEqual(['endpoint']);
      const noKeys = await subscribe('u-push-d', {
        endpoint: endpoint('d'),
        keys: { p256dh: 'x' },
      }).expect(422);
      expect(fieldsOf(noKeys.body)).toEqual(['keys.auth']);
      const extra = await subscribe('u-push-d', {
        endpoint: endpoint('d'),
        keys,
        owner: 'x',
      }).expect(422);
      expect(fieldsOf(extra.body)).toEqual(['owner']);
      const missing = await request(h.app)
        .delete('/v1/recipients/u-push-d/push-subscriptions')
        .set(bearer(manager))
        .expect(422);
      expect(missing.body.errors).toEqual([
        expect.objectContaining({ field: 'endpoint', in: 'query' }),
      ]);
    });
  });

  describe('VAPID public key', () => {
    it('is served without authentication when configured', async () => {
      const res = await request(h.app).get('/v1/push/vapid-public-key').expect(200);
      expect(res.body).toEqual({ publicKey: vapidPublicKey });
      expect(vapidPublicKey).toMatch(/^[A-Za-z0-9_-]{87}$/);
    });

    it('is a 404 problem when the push channel is not configured', async () => {
      const bare = await createHarness();
      try {
        const res = await request(bare.app).get('/v1/push/vapid-public-key').expect(404);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.body).toMatchObject({ status: 404, detail: 'push channel not configured' });
      } finally {
        await bare.close();
      }
    });
  });

  describe('preferences at send time', () => {
    it('skips a channel the recipient opted out of, with a reason', async () => {
      await put('u-optout', {
        email: 'optout@example.test',
        preferences: { channels: { email: false } },
      }).expect(201);
      const res = await emailTo('u-optout');
      expect(res.body.status).toBe('skipped');
      expect(res.body.deliveries).toEqual([
        expect.objectContaining({
          channel: 'email',
          status: 'skipped',
          reason: expect.stringMatching(/opted out/),
        }),
      ]);
      // Opting back in is a PUT away.
      await put('u-optout', { email: 'optout@example.test' }).expect(200);
      expect((await emailTo('u-optout')).body.deliveries[0].status).toBe('queued');
    });

    it('skips a category the recipient opted out of, and only that one', async () => {
      await put('u-category', {
        email: 'category@example.test',
        preferences: { categories: { marketing: false, billing: true } },
      }).expect(201);
      const marketing = await emailTo('u-category', { category: 'marketing' });
      expect(marketing.body.deliveries).toEqual([
        expect.objectContaining({
          status: 'skipped',
          reason: expect.stringMatching(/opted out of category marketing/),
        }),
      ]);
      const billing = await emailTo('u-category', { category: 'billing' });
      expect(billing.body.deliveries[0].status).toBe('queued');
    });
  });

  describe('erasure (DELETE)', () => {
    const address = 'erase-me@example.test';
    const chatId = '987654321';
    const hook = 'https://hooks.example.test/erase-me';
    const browser = endpoint('erase-me');

    /** Every row of these tables as JSON text, for searching personal data. */
    async function rowsAsText(tables: string[]): Promise<string> {
      const texts: string[] = [];
      for (const table of tables) {
        const { rows } = await h.db.pool.query<{ row: string }>(
          `SELECT row_to_json(t)::text AS row FROM ${table} t`,
        );
        texts.push(...rows.map((r) => r.row));
      }
      return texts.join('\n').toLowerCase();
    }

    /** Every key under this harness's queue prefix, with its contents, as text. */
    async function redisAsText(): Promise<string> {
      const texts: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await h.redis.scan(cursor, 'MATCH', `${h.prefix}*`, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) {
          const type = await h.redis.type(key);
          const value =
            type === 'string'
              ? await h.redis.get(key)
              : type === 'hash'
                ? await h.redis.hgetall(key)
                : type === 'list'
                  ? await h.redis.lrange(key, 0, -1)
                  : type === 'set'
                    ? await h.redis.smembers(key)
                    : type === 'zset'
                      ? await h.redis.zrange(key, 0, -1)
                      : type === 'stream'
                        ? await h.redis.xrange(key, '-', '+')
                        : null;
          texts.push(`${key} ${JSON.stringify(value)}`);
        }
      } while (cursor !== '0');
      return texts.join('\n').toLowerCase();
    }

    it('erases personal data and keeps anonymised deliveries, attempts and counts', async () => {
      h.startEmailWorker({ smtpUrl: sink.url });
      // A mail server echoing the address in its rejection (it lands in reasons and attempts).
      sink.behave(address, {
        kind: 'reject',
        code: 550,
        message: `5.1.1 <Erase-Me@Example.test>: Recipient address rejected`,
      });
      await put('u-erase', {
        email: address,
        telegramChatId: chatId,
        webhookUrl: hook,
        tags: ['beta'],
      }).expect(201);
      await subscribe('u-erase', { endpoint: browser, keys }).expect(201);

      // One notification sent (and rejected), one scheduled for tomorrow.
      const sent = await emailTo('u-erase', {
        data: { name: 'Erin' },
        metadata: { orderId: 'A-1', contact: address },
      });
      const scheduled = await emailTo('u-erase', {
        sendAt: new Date(Date.now() + 86_400_000).toISOString(),
        metadata: { contact: address },
      });
      expect(scheduled.body.status).toBe('scheduled');
      // A webhook job waiting in Redis (no webhook worker runs): its payload carries the URL.
      const waiting = await notify({
        to: { recipientId: 'u-erase' },
        channels: ['webhook'],
        content: { webhook: { payload: { hello: 'Erin' } } },
      });
      const waitingJob = waiting.body.deliveries[0].id as string;
      await waitFor(
        async () => (await h.queues.get('webhook.transactional')!.getJob(waitingJob)) ?? undefined,
        { what: 'the webhook job in Redis' },
      );
      await waitFor(
        async () => {
          const n = await request(h.app)
            .get(`/v1/notifications/${sent.body.id}`)
            .set(bearer(sender))
            .expect(200);
          return n.body.status === 'failed' ? n.body : undefined;
        },
        { what: 'the rejected email to settle' },
      );
      const ids = [sent.body.id, scheduled.body.id, waiting.body.id];
      const before = await rowsAsText(['notifications', 'deliveries', 'attempts', 'outbox']);
      expect(before).toContain(address); // the search below would find it
      // Redis holds the rejected email's dead letter and the waiting webhook job.
      const deadLetter = sent.body.deliveries[0].id as string;
      await waitFor(async () => (await h.dlq('email').getJob(deadLetter)) ?? undefined, {
        what: 'the dead letter',
      });
      const redisBefore = await redisAsText();
      expect(redisBefore).toContain(address);
      expect(redisBefore).toContain(hook);
      const deliveriesBefore = await h.db.prisma.delivery.count({
        where: { notificationId: { in: ids } },
      });
      const attemptsBefore = await h.db.prisma.attempt.count({
        where: { delivery: { notificationId: { in: ids } } },
      });
      expect(deliveriesBefore).toBe(3);
      expect(attemptsBefore).toBeGreaterThanOrEqual(1);

      await request(h.app).delete('/v1/recipients/u-erase').set(bearer(manager)).expect(204);

      // The recipient and its browsers are gone.
      await get('u-erase').expect(404);
      expect(await h.db.prisma.recipient.count({ where: { id: 'u-erase' } })).toBe(0);
      expect(await h.db.prisma.pushSubscription.count({ where: { endpoint: browser } })).toBe(0);

      // Notifications, deliveries and attempts survive, anonymised.
      const notifications = await h.db.prisma.notification.findMany({ where: { id: { in: ids } } });
      expect(notifications).toHaveLength(3);
      for (const n of notifications) {
        expect(n).toMatchObject({ recipientId: null, to: null, data: null, metadata: null });
      }
      const deliveries = await h.db.prisma.delivery.findMany({
        where: { notificationId: { in: ids } },
      });
      expect(deliveries).toHaveLength(deliveriesBefore);
      expect(deliveries.every((d) => d.recipientId === null)).toBe(true);
      expect(
        await h.db.prisma.attempt.count({ where: { delivery: { notificationId: { in: ids } } } }),
      ).toBe(attemptsBefore);
      // The rejection is still explained, without the address.
      const failed = deliveries.find((d) => d.notificationId === sent.body.id)!;
      expect(failed.status).toBe('failed');
      expect(failed.reason).toMatch(/Recipient address rejected/);
      expect(failed.reason).toContain('[erased]');
      // Nothing will be sent to an erased person: the scheduled send is cancelled.
      const pending = deliveries.find((d) => d.notificationId === scheduled.body.id)!;
      expect(pending).toMatchObject({ status: 'cancelled', reason: 'recipient erased' });
      expect(await h.db.prisma.outboxEntry.count({ where: { deliveryId: pending.id } })).toBe(0);

      // No trace of any of the addresses anywhere.
      const after = await rowsAsText([
        'notifications',
        'deliveries',
        'attempts',
        'outbox',
        'audit_events',
        'idempotency_keys',
      ]);
      for (const personal of [address, chatId, hook, browser]) {
        expect(after).not.toContain(personal.toLowerCase());
      }
      // Nor in Redis: the dead letter and the waiting job are gone.
      expect(await h.dlq('email').getJob(deadLetter)).toBeUndefined();
      expect(await h.queues.get('webhook.transactional')!.getJob(waitingJob)).toBeUndefined();
      const redisAfter = await redisAsText();
      for (const personal of [address, chatId, hook, browser]) {
        expect(redisAfter).not.toContain(personal.toLowerCase());
      }

      // The API still shows the notification's history.
      const view = await request(h.app)
        .get(`/v1/notifications/${sent.body.id}`)
        .set(bearer(sender))
        .expect(200);
      expect(view.body).toMatchObject({ id: sent.body.id, status: 'failed' });
      expect(view.body.recipientId).toBeUndefined();
      expect(view.body.deliveries[0].attempts.length).toBeGreaterThanOrEqual(1);

      // Who erased what is on record, with counts only.
      const audit = await h.db.prisma.auditEvent.findMany({
        where: { action: 'recipient.erase', entityId: 'u-erase' },
      });
      expect(audit).toEqual([
        expect.objectContaining({
          actor: 'crm',
          entityType: 'recipient',
          details: {
            notifications: 3,
            deliveries: 3,
            cancelledDeliveries: 2,
            pushSubscriptions: 1,
          },
        }),
      ]);

      // The id can be used again, for a new person.
      await request(h.app).delete('/v1/recipients/u-erase').set(bearer(manager)).expect(404);
      await put('u-erase', {}).expect(201);
    });
  });
});

describe("a recipient's deliveries (GET /v1/recipients/:id/deliveries)", () => {
  let h: Harness;
  /** Delivery ids of u-hist, oldest first. */
  const history: string[] = [];

  beforeAll(async () => {
    h = await createHarness();
    const put = (id: string, body: object) =>
      request(h.app).put(`/v1/recipients/${id}`).set(bearer(manager)).send(body).expect(201);
    await put('u-hist', { webhookUrl: 'https://hooks.example.test/hist' });
    await put('u-other', { webhookUrl: 'https://hooks.example.test/other' });
    const send = (recipientId: string, i: number) =>
      request(h.app)
        .post('/v1/notifications')
        .set(bearer(sender))
        .send({
          to: { recipientId },
          // No email address: that delivery is skipped, the webhook one queued.
          channels: ['webhook', 'email'],
          content: {
            webhook: { payload: { i } },
            email: { subject: `n${i}`, text: 'hello' },
          },
        })
        .expect(202);
    for (let i = 0; i < 3; i++) {
      const res = await send('u-hist', i);
      history.push(...(res.body as { deliveries: { id: string }[] }).deliveries.map((d) => d.id));
      await send('u-other', i);
    }
  });
  afterAll(async () => {
    await h.close();
  });

  const list = (id: string, query = '', token = sender) =>
    request(h.app).get(`/v1/recipients/${id}/deliveries${query}`).set(bearer(token));

  interface Page {
    items: { id: string; channel: string; status: string; reason?: string }[];
    next?: string;
  }

  it("pages through that recipient's deliveries once, newest first, by following next", async () => {
    const seen: Page['items'] = [];
    let query = '?limit=4';
    for (;;) {
      const page = (await list('u-hist', query).expect(200)).body as Page;
      seen.push(...page.items);
      if (!page.next) break;
      query = `?limit=4&before=${page.next}`;
    }
    expect(seen.map((d) => d.id)).toEqual([...history].sort().reverse());
    expect(seen).toHaveLength(6);
  });

  it('filters by channel and status, and says why a delivery was skipped', async () => {
    const skipped = (await list('u-hist', '?status=skipped').expect(200)).body as Page;
    expect(skipped.items).toHaveLength(3);
    for (const d of skipped.items) {
      expect(d).toMatchObject({ channel: 'email', status: 'skipped', reason: expect.any(String) });
    }
    const webhook = (await list('u-hist', '?channel=webhook').expect(200)).body as Page;
    expect(webhook.items.map((d) => [d.channel, d.status])).toEqual(
      Array(3).fill(['webhook', 'queued']),
    );
  });

  it('answers 404 for an unknown recipient, 422 naming bad parameters, 403 without notifications:read', async () => {
    await list('u-nobody').expect(404);
    const res = await list('u-hist', '?limit=0&status=lost&channel=fax&before=x').expect(422);
    const errors = (res.body as { errors: FieldError[] }).errors;
    expect(errors.map((e) => e.field).sort()).toEqual(['before', 'channel', 'limit', 'status']);
    expect(errors.every((e) => e.in === 'query')).toBe(true);
    await list('u-hist', '', reader).expect(403);
  });

  it('keeps no history once the recipient is erased', async () => {
    await request(h.app).delete('/v1/recipients/u-other').set(bearer(manager)).expect(204);
    await list('u-other').expect(404);
  });
});

describe('finding recipients (GET /v1/recipients)', () => {
  let h: Harness;
  const put = (id: string, body: object) =>
    request(h.app).put(`/v1/recipients/${id}`).set(bearer(manager)).send(body).expect(201);
  const list = (query: Record<string, string | number> = {}, token = reader) =>
    request(h.app).get('/v1/recipients').query(query).set(bearer(token));
  interface Page {
    items: { id: string; email: string | null; tags: string[]; pushSubscriptions?: unknown }[];
    next?: string;
  }
  const ids = async (query: Record<string, string | number>) =>
    ((await list(query).expect(200)).body as Page).items.map((r) => r.id);

  beforeAll(async () => {
    h = await createHarness();
    for (let i = 0; i < 7; i++) {
      await put(`u-${i}`, { email: `user${i}@example.test`, tags: i % 2 ? ['beta'] : ['alpha'] });
    }
    await put('u-ada', { email: 'Ada.Lovelace@Example.test', tags: ['beta', 'vip'] });
    await put('u-none', {});
  });
  afterAll(async () => {
    await h.close();
  });

  it('pages through every recipient once, in id order, by following next', async () => {
    const seen: string[] = [];
    let query: Record<string, string | number> = { limit: 3 };
    for (;;) {
      const page = (await list(query).expect(200)).body as Page;
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((r) => r.id));
      if (!page.next) break;
      query = { limit: 3, after: page.next };
    }
    expect(seen).toEqual(['u-0', 'u-1', 'u-2', 'u-3', 'u-4', 'u-5', 'u-6', 'u-ada', 'u-none']);
    const first = ((await list({ limit: 1 }).expect(200)).body as Page).items[0]!;
    expect(first).toMatchObject({ id: 'u-0', email: 'user0@example.test', tags: ['alpha'] });
    expect(first.pushSubscriptions).toBeUndefined();
  });

  it("lists a tag's recipients (a campaign's audience)", async () => {
    expect(await ids({ tag: 'beta' })).toEqual(['u-1', 'u-3', 'u-5', 'u-ada']);
    expect(await ids({ tag: 'vip' })).toEqual(['u-ada']);
    expect(await ids({ tag: 'nobody' })).toEqual([]);
  });

  it('finds a recipient by its email address, whatever its case', async () => {
    expect(await ids({ email: 'ada.lovelace@example.test' })).toEqual(['u-ada']);
    expect(await ids({ email: 'ADA.LOVELACE@EXAMPLE.TEST', tag: 'vip' })).toEqual(['u-ada']);
    expect(await ids({ email: 'ada.lovelace@example.test', tag: 'alpha' })).toEqual([]);
    expect(await ids({ email: 'nobody@example.test' })).toEqual([]);
  });

  it('answers 422 naming bad or unknown parameters, 403 without recipients:read', async () => {
    const res = await list({
      tag: 'no spaces',
      email: 'not-an-email',
      limit: 0,
      after: '',
      tga: 'x',
    });
    expect(res.status).toBe(422);
    expect([...new Set(fieldsOf(res.body as { errors: FieldError[] }))].sort()).toEqual(
      ['after', 'email', 'limit', 'tag', 'tga'].sort(),
    );
    await list({}, sender).expect(403);
  });
});

import request from 'supertest';
import { bearer, createHarness, SmtpSink, testToken, waitFor, type Harness } from '@herald/testkit';

const admin = testToken('admin', 'ops-alice');
const writer = testToken('notifications:write notifications:read', 'billing');

describe('operator API: queues, dead-letter queues, test messages, dashboard', () => {
  let h: Harness;
  let sink: SmtpSink;

  beforeAll(async () => {
    sink = await new SmtpSink().start();
    h = await createHarness({ admin: { user: 'ops', password: 'correct horse battery' } });
    h.startEmailWorker({ smtpUrl: sink.url });
  });

  afterAll(async () => {
    await h.close();
    await sink.stop();
  });

  const sendEmail = (address: string) =>
    request(h.app)
      .post('/v1/notifications')
      .set(bearer(writer))
      .send({
        to: { email: address },
        channels: ['email'],
        content: { email: { subject: 'S', text: 'T' } },
      })
      .expect(202);

  const notification = async (id: string) =>
    (await request(h.app).get(`/v1/notifications/${id}`).set(bearer(writer)).expect(200)).body;

  async function deadLetter(
    address: string,
  ): Promise<{ notificationId: string; deliveryId: string }> {
    sink.behave(address, { kind: 'reject', code: 550 });
    const res = await sendEmail(address);
    const deliveryId = res.body.deliveries[0].id as string;
    await waitFor(() => h.dlq('email').getJob(deliveryId), { what: 'the dead letter' });
    return { notificationId: res.body.id, deliveryId };
  }

  it('refuses the operator API without the admin scope', async () => {
    await request(h.app).get('/v1/queues').set(bearer(writer)).expect(403);
    await request(h.app).get('/v1/dlq?channel=email').expect(401);
  });

  it('lists dead letters by channel, paged, with their reason and errors', async () => {
    const a = await deadLetter('dead-a@example.test');
    const b = await deadLetter('dead-b@example.test');
    const page = await request(h.app)
      .get('/v1/dlq?channel=email&limit=1')
      .set(bearer(admin))
      .expect(200);
    expect(page.body).toMatchObject({ channel: 'email', offset: 0, limit: 1 });
    expect(page.body.total).toBeGreaterThanOrEqual(2);
    expect(page.body.items).toHaveLength(1);
    const all = await request(h.app)
      .get('/v1/dlq?channel=email&limit=100')
      .set(bearer(admin))
      .expect(200);
    const ids = all.body.items.map((i: { deliveryId: string }) => i.deliveryId);
    expect(ids).toEqual(expect.arrayContaining([a.deliveryId, b.deliveryId]));
    const item = all.body.items.find((i: { deliveryId: string }) => i.deliveryId === a.deliveryId);
    expect(item).toMatchObject({
      jobId: a.deliveryId,
      channel: 'email',
      lane: 'transactional',
      reason: expect.stringMatching(/recipient_rejected/),
      errors: [expect.objectContaining({ code: 'recipient_rejected' })],
    });
    await request(h.app).get('/v1/dlq?channel=fax').set(bearer(admin)).expect(422);
  });

  it('redrives one dead letter: fresh attempts, history kept, delivered', async () => {
    const { notificationId, deliveryId } = await deadLetter('later-ok@example.test');
    sink.behave('later-ok@example.test', { kind: 'accept' });
    await request(h.app).post(`/v1/dlq/${deliveryId}/redrive`).set(bearer(admin)).expect(202);
    await sink.waitForMail('later-ok@example.test');
    const n = await waitFor(async () => {
      const v = await notification(notificationId);
      return v.status === 'sent' ? v : undefined;
    });
    expect(n.deliveries[0].attempts.map((a: { outcome: string }) => a.outcome)).toEqual([
      'permanent_error',
      'sent',
    ]);
    expect(await h.dlq('email').getJob(deliveryId)).toBeUndefined();
    const audit = await h.db.prisma.auditEvent.findFirst({
      where: { action: 'dlq.redrive', entityId: deliveryId },
    });
    expect(audit?.actor).toBe('ops-alice');
  });

  it('redrives many by channel, and 404s an unknown job', async () => {
    const first = await deadLetter('bulk-1@example.test');
    const second = await deadLetter('bulk-2@example.test');
    sink.behave('bulk-1@example.test', { kind: 'accept' });
    sink.behave('bulk-2@example.test', { kind: 'accept' });
    const res = await request(h.app)
      .post('/v1/dlq/redrive')
      .set(bearer(admin))
      .send({ channel: 'email', limit: 1000 })
      .expect(202);
    expect(res.body.deliveryIds).toEqual(
      expect.arrayContaining([first.deliveryId, second.deliveryId]),
    );
    await sink.waitForMail('bulk-1@example.test');
    await sink.waitForMail('bulk-2@example.test');
    await request(h.app).post('/v1/dlq/no-such-job/redrive').set(bearer(admin)).expect(404);
  });

  it('refuses to redrive a dead letter whose delivery record was purged, and keeps it', async () => {
    const { notificationId, deliveryId } = await deadLetter('purged@example.test');
    sink.behave('purged@example.test', { kind: 'accept' });
    // What the retention purge does past RETENTION_DAYS: the record goes, the dead letter stays.
    await h.db.pool.query('DELETE FROM notifications WHERE id = $1', [notificationId]);

    const one = await request(h.app)
      .post(`/v1/dlq/${deliveryId}/redrive`)
      .set(bearer(admin))
      .expect(409);
    expect(one.body.detail).toMatch(/purged/);
    const many = await request(h.app)
      .post('/v1/dlq/redrive')
      .set(bearer(admin))
      .send({ channel: 'email', limit: 1000 })
      .expect(202);
    expect(many.body.orphaned).toEqual([deliveryId]);
    expect(many.body.deliveryIds).not.toContain(deliveryId);
    // Never sent again: not in the lane, still in the DLQ for an operator to delete.
    expect(await h.queues.get('email.transactional')!.getJob(deliveryId)).toBeUndefined();
    expect(await h.dlq('email').getJob(deliveryId)).toBeDefined();
    await request(h.app).delete(`/v1/dlq/${deliveryId}`).set(bearer(admin)).expect(204);
  });

  it('deletes a dead letter (the delivery stays failed) and audits it', async () => {
    const { notificationId, deliveryId } = await deadLetter('drop-me@example.test');
    await request(h.app).delete(`/v1/dlq/${deliveryId}`).set(bearer(admin)).expect(204);
    expect(await h.dlq('email').getJob(deliveryId)).toBeUndefined();
    expect((await notification(notificationId)).deliveries[0].status).toBe('failed');
    await request(h.app).delete(`/v1/dlq/${deliveryId}`).set(bearer(admin)).expect(404);
    expect(
      await h.db.prisma.auditEvent.count({ where: { action: 'dlq.delete', entityId: deliveryId } }),
    ).toBe(1);
  });

  it('reports every queue with depth, DLQ size, circuit state and last-minute throughput', async () => {
    const res = await request(h.app).get('/v1/queues').set(bearer(admin)).expect(200);
    const channels = res.body.channels as {
      channel: string;
      dlq: number;
      circuit: string;
      lanes: { queue: string }[];
    }[];
    expect(channels.map((c) => c.channel)).toEqual(['email', 'telegram', 'push', 'webhook']);
    const email = channels[0]!;
    expect(email.lanes.map((l) => l.queue)).toEqual(['email.transactional', 'email.campaign']);
    expect(email.lanes[0]).toEqual(
      expect.objectContaining({
        waiting: expect.any(Number),
        active: expect.any(Number),
        delayed: expect.any(Number),
        prioritized: expect.any(Number),
        failed: expect.any(Number),
        throughputLastMinute: expect.any(Number),
      }),
    );
    expect(email.dlq).toBe(await h.dlq('email').getWaitingCount());
    expect(['closed', 'unknown']).toContain(email.circuit);
    expect(email.lanes.map((l) => (l as { pausedForMs?: number }).pausedForMs)).toEqual([0, 0]);
  });

  it("shows how long a lane stays paused by its workers, and not a busy lane's rate window", async () => {
    const paused = h.queues.get('webhook.campaign')!;
    const busy = h.queues.get('webhook.transactional')!;
    // What a worker does on a 429 with Retry-After: 60.
    await paused.rateLimit(60_000);
    // An ordinary limiter window: a few jobs counted this second, no pause.
    await h.redis.set(busy.keys.limiter!, '3', 'PX', 1000);
    try {
      const res = await request(h.app).get('/v1/queues').set(bearer(admin)).expect(200);
      const webhook = (
        res.body.channels as { channel: string; lanes: { queue: string; pausedForMs: number }[] }[]
      ).find((c) => c.channel === 'webhook')!;
      const pausedFor = (queue: string) =>
        webhook.lanes.find((l) => l.queue === queue)!.pausedForMs;
      expect(pausedFor('webhook.campaign')).toBeGreaterThan(50_000);
      expect(pausedFor('webhook.campaign')).toBeLessThanOrEqual(60_000);
      expect(pausedFor('webhook.transactional')).toBe(0);
    } finally {
      await paused.removeRateLimitKey();
      await busy.removeRateLimitKey();
    }
  });

  it('sends a test message (202) through the normal pipeline', async () => {
    const res = await request(h.app)
      .post('/v1/messaging/test')
      .set(bearer(admin))
      .send({
        to: { email: 'ops-check@example.test' },
        channel: 'email',
        content: { email: { subject: 'Test', text: 'ping' } },
      })
      .expect(202);
    const [mail] = await sink.waitForMail('ops-check@example.test');
    expect(mail!.parsed.subject).toBe('Test');
    expect((await notification(res.body.id)).metadata).toEqual({
      test: true,
      requestedBy: 'ops-alice',
    });
    await request(h.app)
      .post('/v1/messaging/test')
      .set(bearer(admin))
      .send({ channel: 'email', content: { email: { subject: 'x', text: 'y' } } })
      .expect(422);
  });

  describe('Bull Board at /admin/queues', () => {
    it('asks for HTTP Basic credentials and refuses wrong ones', async () => {
      const res = await request(h.app).get('/admin/queues').expect(401);
      expect(res.headers['www-authenticate']).toMatch(/^Basic/);
      await request(h.app).get('/admin/queues').auth('ops', 'wrong').expect(401);
    });

    it('serves the dashboard and its API with the Herald queues', async () => {
      const page = await request(h.app)
        .get('/admin/queues')
        .auth('ops', 'correct horse battery')
        .expect(200);
      expect(page.text).toMatch(/<html/i);
      const api = await request(h.app)
        .get('/admin/queues/api/queues')
        .auth('ops', 'correct horse battery')
        .expect(200);
      const names = (api.body.queues as { name: string }[]).map((q) => q.name);
      expect(names).toEqual(
        expect.arrayContaining([
          'email.transactional',
          'email.campaign',
          'email.dlq',
          'webhook.dlq',
        ]),
      );
    });

    it('is off (404) when no operator credentials are configured', async () => {
      const plain = await createHarness();
      try {
        await request(plain.app).get('/admin/queues').expect(404);
        await request(plain.app).get('/admin/queues').auth('ops', 'anything').expect(404);
      } finally {
        await plain.close();
      }
    });
  });
});

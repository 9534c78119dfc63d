import request from 'supertest';
import { PAUSE_ONLY_LIMITER } from '@herald/worker-kit';
import { bearer, createHarness, SmtpSink, testToken, waitFor, type Harness } from '@herald/testkit';

const write = testToken('notifications:write notifications:read', 'billing');

describe('email end to end: HTTP → Postgres → BullMQ → worker → SMTP', () => {
  let h: Harness;
  let sink: SmtpSink;

  beforeAll(async () => {
    sink = await new SmtpSink().start();
    h = await createHarness();
    h.startEmailWorker({ smtpUrl: sink.url, from: 'Herald <noreply@herald.test>' });
  });

  afterAll(async () => {
    await h.close();
    await sink.stop();
  });

  const send = (body: object, headers: Record<string, string> = {}) =>
    request(h.app).post('/v1/notifications').set(bearer(write)).set(headers).send(body);

  const getNotification = async (id: string) =>
    (await request(h.app).get(`/v1/notifications/${id}`).set(bearer(write)).expect(200)).body;

  const waitForStatus = (id: string, status: string) =>
    waitFor(
      async () => {
        const n = await getNotification(id);
        return n.status === status ? n : undefined;
      },
      { what: `notification ${id} to be ${status}` },
    );

  it('delivers an inline email with subject, text, HTML, From and To, and records the attempt', async () => {
    const res = await send({
      to: { email: 'ada@example.test' },
      channels: ['email'],
      content: {
        email: {
          subject: 'Reset your password',
          text: 'Hello Ada',
          html: '<p>Hello <b>Ada</b></p>',
        },
      },
      metadata: { orderId: 'A-1' },
    }).expect(202);
    expect(res.body).toMatchObject({
      status: 'queued',
      deliveries: [{ channel: 'email', status: 'queued' }],
    });
    expect(res.headers.location).toBe(`/v1/notifications/${res.body.id}`);

    const [mail] = await sink.waitForMail('ada@example.test');
    expect(mail!.parsed.subject).toBe('Reset your password');
    expect(mail!.parsed.text?.trim()).toBe('Hello Ada');
    expect(mail!.parsed.html).toContain('<p>Hello <b>Ada</b></p>');
    expect(mail!.parsed.from).toMatchObject({ address: 'noreply@herald.test', name: 'Herald' });
    expect(mail!.envelopeTo).toEqual(['ada@example.test']);
    expect(mail!.header('x-herald-delivery-id')).toBe(res.body.deliveries[0].id);

    const n = await waitForStatus(res.body.id, 'sent');
    expect(n.metadata).toEqual({ orderId: 'A-1' });
    expect(n.deliveries[0]).toMatchObject({ status: 'sent', attemptsCount: 1 });
    expect(n.deliveries[0].attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        outcome: 'sent',
        providerMessageId: expect.any(String),
      }),
    ]);
    expect(n.deliveries[0].sentAt).toEqual(expect.any(String));
  });

  it('sends to a stored recipient by id', async () => {
    await h.db.prisma.recipient.create({ data: { id: 'u-42', email: 'grace@example.test' } });
    const res = await send({
      to: { recipientId: 'u-42' },
      channels: ['email'],
      content: { email: { subject: 'Receipt', text: 'Thanks' } },
    }).expect(202);
    await sink.waitForMail('grace@example.test');
    const n = await waitForStatus(res.body.id, 'sent');
    expect(n.recipientId).toBe('u-42');
  });

  it('skips, with a reason, a channel the recipient has no address for', async () => {
    await h.db.prisma.recipient.create({ data: { id: 'u-no-email', telegramChatId: '42' } });
    const res = await send({
      to: { recipientId: 'u-no-email' },
      channels: ['email'],
      content: { email: { subject: 'x', text: 'y' } },
    }).expect(202);
    expect(res.body.deliveries).toEqual([
      expect.objectContaining({ status: 'skipped', reason: 'no email address' }),
    ]);
  });

  it('answers 422 naming to.recipientId for an unknown recipient', async () => {
    const res = await send({
      to: { recipientId: 'nobody' },
      channels: ['email'],
      content: { email: { subject: 'x', text: 'y' } },
    }).expect(422);
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'to.recipientId' })]);
  });

  describe('Idempotency-Key', () => {
    const body = {
      to: { email: 'idem@example.test' },
      channels: ['email'],
      content: { email: { subject: 'Once', text: 'only once' } },
    };

    it('replays the same response and sends once for the same key and body', async () => {
      const first = await send(body, { 'Idempotency-Key': 'order-1' }).expect(202);
      // Key order differs: the same body all the same.
      const second = await send(
        { content: body.content, channels: body.channels, to: body.to },
        { 'Idempotency-Key': 'order-1' },
      ).expect(202);
      expect(second.body).toEqual(first.body);
      await waitForStatus(first.body.id, 'sent');
      expect(sink.mailTo('idem@example.test')).toHaveLength(1);
      expect(await h.db.prisma.notification.count({ where: { id: first.body.id } })).toBe(1);
    });

    it('refuses the same key with a different body (409)', async () => {
      await send(body, { 'Idempotency-Key': 'order-2' }).expect(202);
      const res = await send(
        { ...body, metadata: { changed: true } },
        { 'Idempotency-Key': 'order-2' },
      ).expect(409);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    });

    it('scopes keys per caller (token sub)', async () => {
      const other = testToken('notifications:write', 'shipping');
      const a = await send(body, { 'Idempotency-Key': 'shared' }).expect(202);
      const b = await request(h.app)
        .post('/v1/notifications')
        .set(bearer(other))
        .set('Idempotency-Key', 'shared')
        .send(body)
        .expect(202);
      expect(b.body.id).not.toBe(a.body.id);
    });

    it('sends once when the same key arrives concurrently', async () => {
      const concurrent = { ...body, to: { email: 'race@example.test' } };
      const responses = await Promise.all(
        Array.from({ length: 5 }, () => send(concurrent, { 'Idempotency-Key': 'race-1' })),
      );
      expect(new Set(responses.map((r) => r.status))).toEqual(new Set([202]));
      expect(new Set(responses.map((r) => r.body.id)).size).toBe(1);
      await waitForStatus(responses[0]!.body.id, 'sent');
      expect(sink.mailTo('race@example.test')).toHaveLength(1);
    });
  });

  it('retries an SMTP 4xx with backoff, then delivers', async () => {
    sink.behave('busy@example.test', { kind: 'defer', code: 451, times: 2 });
    const res = await send({
      to: { email: 'busy@example.test' },
      channels: ['email'],
      content: { email: { subject: 'Eventually', text: 'third time lucky' } },
    }).expect(202);
    await sink.waitForMail('busy@example.test');
    const n = await waitForStatus(res.body.id, 'sent');
    expect(sink.attempts.get('busy@example.test')).toBe(3);
    expect(n.deliveries[0].attempts.map((a: { outcome: string }) => a.outcome)).toEqual([
      'transient_error',
      'transient_error',
      'sent',
    ]);
    expect(n.deliveries[0].attempts[0].errorCode).toBe('provider_deferred');
  });

  it('fails an SMTP 5xx at once, without retrying', async () => {
    sink.behave('gone@example.test', { kind: 'reject', code: 550, message: 'No such user' });
    const res = await send({
      to: { email: 'gone@example.test' },
      channels: ['email'],
      content: { email: { subject: 'Never', text: 'bounces' } },
    }).expect(202);
    const n = await waitForStatus(res.body.id, 'failed');
    expect(n.deliveries[0]).toMatchObject({ status: 'failed', attemptsCount: 1 });
    expect(n.deliveries[0].reason).toMatch(/recipient_rejected/);
    expect(n.deliveries[0].attempts).toEqual([
      expect.objectContaining({ outcome: 'permanent_error', errorCode: 'recipient_rejected' }),
    ]);
    // Dead-lettered with its payload and error; the lane job is finished, not retried.
    const deliveryId = res.body.deliveries[0].id;
    const dead = await waitFor(() => h.dlq('email').getJob(deliveryId));
    expect(dead.data).toMatchObject({
      deliveryId,
      channel: 'email',
      queue: 'email.transactional',
      reason: expect.stringMatching(/^recipient_rejected/),
      attemptsMade: 1,
      errors: [
        expect.objectContaining({ attempt: 1, code: 'recipient_rejected', at: expect.any(String) }),
      ],
      job: expect.objectContaining({ to: { email: 'gone@example.test' } }),
    });
    expect(await h.queues.get('email.transactional')!.getJob(deliveryId)).toBeUndefined();
    expect(sink.attempts.get('gone@example.test')).toBe(1);
    expect(sink.mailTo('gone@example.test')).toHaveLength(0);
  });
});

describe('email: refused SMTP credentials (EAUTH) open the breaker at once', () => {
  let h: Harness;
  let sink: SmtpSink;

  beforeAll(async () => {
    sink = await new SmtpSink({ auth: { user: 'herald', pass: 'rotated-password' } }).start();
    h = await createHarness();
  });

  afterAll(async () => {
    await h.close();
    await sink.stop();
  });

  const circuitState = async () =>
    (await h.workerMetrics.circuitState.get()).values.find((v) => v.labels.channel === 'email')
      ?.value;

  const attemptsOf = async () =>
    (
      await h.db.pool.query<{
        delivery_id: string;
        attempt: number;
        outcome: string;
        error_code: string | null;
      }>('SELECT delivery_id, attempt, outcome, error_code FROM attempts ORDER BY id')
    ).rows;

  it('spends no attempts while open, dead-letters nothing, and delivers after the half-open probe once the login works', async () => {
    sink.acceptLogins = false;
    h.startEmailWorker({
      smtpUrl: sink.url,
      concurrency: 2,
      breaker: { errorPercent: 50, volume: 20, windowMs: 10_000, resetMs: 1500 },
    });
    const sent = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        send(h, {
          to: { email: `auth-${i}@example.test` },
          channels: ['email'],
          content: { email: { subject: 'S', text: 'T' } },
        }),
      ),
    );

    await waitFor(async () => (await circuitState()) === 2, { what: 'the email circuit to open' });
    // Paused for every replica until the probe.
    expect(
      await h.queues.get('email.transactional')!.getRateLimitTtl(PAUSE_ONLY_LIMITER.max),
    ).toBeGreaterThan(0);
    const loginsWhenOpened = sink.authAttempts;
    // The half-open probe is refused too, and the circuit opens again.
    await waitFor(() => sink.authAttempts > loginsWhenOpened, {
      what: 'the half-open probe',
      timeoutMs: 5000,
    });
    await waitFor(async () => (await circuitState()) === 2, { what: 'the circuit to reopen' });
    expect(sink.authAttempts).toBeLessThanOrEqual(loginsWhenOpened + 2);

    // Each refused login is recorded, but as attempt 1 every time: none was spent.
    const refused = await attemptsOf();
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length).toBeLessThanOrEqual(sink.authAttempts);
    for (const a of refused) {
      expect(a).toMatchObject({
        attempt: 1,
        outcome: 'transient_error',
        error_code: 'misconfigured',
      });
    }
    expect(await h.dlq('email').getWaitingCount()).toBe(0);
    const { rows: failed } = await h.db.pool.query(
      "SELECT id FROM deliveries WHERE status = 'failed'",
    );
    expect(failed).toHaveLength(0);

    sink.acceptLogins = true;
    for (let i = 0; i < 5; i++) await sink.waitForMail(`auth-${i}@example.test`, 1, 15_000);
    await waitFor(async () => (await circuitState()) === 0, { what: 'the circuit to close' });
    for (const { body } of sent) {
      const n = await waitFor(
        async () => {
          const v = (await request(h.app).get(`/v1/notifications/${body.id}`).set(bearer(write)))
            .body;
          return v.status === 'sent' ? v : undefined;
        },
        { what: `notification ${body.id} sent` },
      );
      expect(n.deliveries[0].attemptsCount).toBe(1);
      expect(n.deliveries[0].attempts.at(-1)).toMatchObject({ attempt: 1, outcome: 'sent' });
    }
    expect(await h.dlq('email').getWaitingCount()).toBe(0);
  });
});

function send(h: Harness, body: object) {
  return request(h.app).post('/v1/notifications').set(bearer(write)).send(body).expect(202);
}

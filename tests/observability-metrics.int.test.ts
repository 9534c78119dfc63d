// Every metric the alert rules and the Grafana dashboard read is exported by a
// running service, with the labels and label values they select on. The
// gateway and a webhook worker run in-process (testkit harness) against the
// real Redis and Postgres; one notification goes through so counters and
// histograms have samples; then their /metrics text is read as Prometheus
// would read it. The queue gauges are registered the way the scheduler's
// main.ts registers them.
import request from 'supertest';
import {
  CHANNELS,
  createQueueGauges,
  createRegistry,
  DELIVERY_OUTCOMES,
  LANES,
  queueGaugeCollectors,
} from '@herald/core';
import {
  bearer,
  createHarness,
  testToken,
  waitFor,
  WebhookReceiver,
  type Harness,
} from '@herald/testkit';
import { GAUGED_STATES } from '@herald/core';
import {
  ALERT_RULES,
  alertRules,
  DASHBOARD,
  dashboardExpressions,
  expandDashboardVariables,
  metricFamilies,
  parseExposition,
  selectors,
  type Family,
} from './support/ops-files';

jest.setTimeout(60_000);

const SECRET = 'observability-signing-secret';
const writer = testToken('notifications:write notifications:read', 'observability');

/** Labels Prometheus adds to every scraped series (target labels). */
const TARGET_LABELS = new Set(['job', 'instance']);
/** Closed label value sets, from the code that sets them. */
const KNOWN_VALUES: Record<string, readonly string[]> = {
  channel: CHANNELS,
  lane: LANES,
  outcome: DELIVERY_OUTCOMES,
  state: GAUGED_STATES,
};

const sources = [
  { file: ALERT_RULES, expressions: alertRules().map((r) => r.expr) },
  { file: DASHBOARD, expressions: dashboardExpressions().map(expandDashboardVariables) },
];

describe('metrics named by ops/ are exported by running services', () => {
  let h: Harness;
  let receiver: WebhookReceiver;
  let families: Map<string, Family>;
  /** Families of each scraped process, to say which one exports what. */
  const exposition: Record<string, string> = {};

  beforeAll(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    h = await createHarness();
    h.startWebhookWorker({ signingSecret: SECRET });

    const res = await request(h.app)
      .post('/v1/notifications')
      .set(bearer(writer))
      .send({
        to: { webhookUrl: receiver.url('observability') },
        channels: ['webhook'],
        content: { webhook: { payload: { hello: 'metrics' } } },
      })
      .expect(202);
    await receiver.waitFor('observability', 1);
    await waitFor(
      async () =>
        (await request(h.app).get(`/v1/notifications/${res.body.id}`).set(bearer(writer))).body
          .status === 'sent',
      { what: 'notification sent' },
    );
    // The worker observes end-to-end latency right after recording the send.
    await waitFor(
      async () =>
        /^herald_end_to_end_seconds_count\{[^}]*channel="webhook"[^}]*\} [1-9]/m.test(
          await h.workerRegistry.metrics(),
        ),
      { what: 'end-to-end latency observed' },
    );

    const gateway = await request(h.app).get('/metrics').expect(200);
    exposition.gateway = gateway.text;
    exposition.worker = await h.workerRegistry.metrics();

    // Queue and DLQ gauges as the scheduler (and each worker) export them.
    const scheduler = createRegistry('scheduler-test', false);
    createQueueGauges(
      scheduler,
      queueGaugeCollectors(h.queues.values(), new Map(CHANNELS.map((c) => [c, h.dlq(c)]))),
    );
    exposition.scheduler = await scheduler.metrics();
    // Default process metrics, as every service's createRegistry adds them.
    exposition.process = await createRegistry('process-test').metrics();

    families = new Map();
    for (const text of Object.values(exposition)) parseExposition(text, families);
  });

  afterAll(async () => {
    await h?.close();
    await receiver?.stop();
  });

  it('scrapes the gateway and worker exposition as Prometheus text', () => {
    expect(exposition.gateway).toMatch(/^# TYPE herald_notifications_accepted_total counter$/m);
    expect(exposition.worker).toMatch(/^# TYPE herald_deliveries_total counter$/m);
    expect(exposition.scheduler).toMatch(/^# TYPE herald_queue_jobs gauge$/m);
  });

  describe.each(sources)('$file', ({ expressions }) => {
    const names = [...new Set(expressions.flatMap((e) => metricFamilies(e)))].sort();

    it('names Herald metrics', () => {
      expect(names.length).toBeGreaterThan(0);
    });

    it('reads only metric families that a running service exports, with samples', () => {
      const missing = names.filter((n) => !families.has(n));
      expect(missing).toEqual([]);
      const empty = names.filter((n) => families.get(n)!.samples === 0);
      expect(empty).toEqual([]);
    });

    it('reads _bucket, _sum and _count only of histograms', () => {
      for (const expr of expressions) {
        for (const m of expr.matchAll(/\b(herald_[a-z0-9_]+?)_(bucket|sum|count)\b/g)) {
          expect({ metric: m[1], type: families.get(m[1]!)?.type }).toEqual({
            metric: m[1],
            type: 'histogram',
          });
        }
      }
    });

    it('selects on labels those metrics have, and on label values the code sets', () => {
      for (const expr of expressions) {
        for (const { name, matchers } of selectors(expr)) {
          const family = families.get(name.replace(/_(bucket|sum|count)$/, ''));
          if (!family) continue; // up, and metrics of other exporters
          for (const { label, op, value } of matchers) {
            if (TARGET_LABELS.has(label)) continue;
            expect({ name, label, known: family.labels.has(label) }).toEqual({
              name,
              label,
              known: true,
            });
            const closed = KNOWN_VALUES[label];
            if (!closed || !(op === '=' || op === '=~') || !/^[a-z_|-]+$/.test(value)) continue;
            for (const v of value.split('|')) {
              expect({ name, label, value: v, known: closed.includes(v) }).toEqual({
                name,
                label,
                value: v,
                known: true,
              });
            }
          }
        }
      }
    });
  });

  it('the dashboard also reads only default process metrics that exist', () => {
    const names = [
      ...new Set(dashboardExpressions().flatMap((e) => metricFamilies(e, /(?:process|nodejs)_/))),
    ];
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((n) => !families.has(n))).toEqual([]);
  });

  it('the dashboard shows every Herald metric the services export', () => {
    const exported = [...families.keys()].filter((n) => n.startsWith('herald_'));
    const shown = new Set(dashboardExpressions().flatMap((e) => metricFamilies(e)));
    expect(exported.filter((n) => !shown.has(n))).toEqual([]);
  });
});

describe('herald_deliveries_total{outcome="skipped"} counts skipped deliveries where they are created', () => {
  let h: Harness;
  let receiver: WebhookReceiver;
  const sender = testToken('notifications:write notifications:read', 'skipped-metric');
  const marketer = testToken('campaigns:write campaigns:read', 'skipped-metric');

  beforeAll(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    h = await createHarness();
  });

  afterAll(async () => {
    await h?.close();
    await receiver?.stop();
  });

  /** The value of herald_deliveries_total with these labels in a Prometheus exposition, 0 when absent. */
  function skipped(text: string, channel: string, lane: string): number {
    for (const line of text.split('\n')) {
      const m = /^herald_deliveries_total\{([^}]*)\} (\S+)$/.exec(line);
      if (!m) continue;
      const labels = Object.fromEntries(
        [...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]),
      );
      if (labels.outcome === 'skipped' && labels.channel === channel && labels.lane === lane)
        return Number(m[2]);
    }
    return 0;
  }
  const gatewayMetrics = async () => (await request(h.app).get('/metrics').expect(200)).text;

  it('the gateway counts the deliveries it accepts as skipped, once per notification, by channel and lane', async () => {
    await h.db.prisma.recipient.create({
      data: { id: 'skip-me', webhookUrl: receiver.url('skip-me') },
    });
    const single = {
      to: { recipientId: 'skip-me' },
      channels: ['webhook', 'telegram'],
      content: { webhook: { payload: {} }, telegram: { text: 'x' } },
    };
    const first = await request(h.app)
      .post('/v1/notifications')
      .set(bearer(sender))
      .set('Idempotency-Key', 'skip-once')
      .send(single)
      .expect(202);
    expect(first.body.deliveries[1]).toMatchObject({ channel: 'telegram', status: 'skipped' });
    // A replay is the same notification: not counted again.
    await request(h.app)
      .post('/v1/notifications')
      .set(bearer(sender))
      .set('Idempotency-Key', 'skip-once')
      .send(single)
      .expect(202);
    await request(h.app)
      .post('/v1/notifications/batch')
      .set(bearer(sender))
      .send({
        items: [1, 2].map(() => ({
          to: { recipientId: 'skip-me' },
          channels: ['email'],
          lane: 'campaign',
          content: { email: { subject: 's', text: 't' } },
        })),
      })
      .expect(202);

    const text = await gatewayMetrics();
    expect(skipped(text, 'telegram', 'transactional')).toBe(1);
    expect(skipped(text, 'email', 'campaign')).toBe(2);
    expect(skipped(text, 'webhook', 'transactional')).toBe(0);
  });

  it('the campaign fan-out counts recipients without an address for the channel', async () => {
    await h.db.pool.query(
      `INSERT INTO recipients (id, webhook_url, tags)
       SELECT 'fan-' || i, CASE WHEN i <= 3 THEN $1 END, ARRAY['skip-fanout']
       FROM generate_series(1, 5) AS i`,
      [receiver.url('fan')],
    );
    h.startWebhookWorker({ signingSecret: SECRET });
    const created = await request(h.app)
      .post('/v1/campaigns')
      .set(bearer(marketer))
      .send({
        name: 'skips',
        channels: ['webhook'],
        content: { webhook: { payload: {} } },
        audience: { tag: 'skip-fanout' },
      })
      .expect(202);
    h.startScheduler();
    const done = await waitFor(
      async () => {
        const v = (
          await request(h.app).get(`/v1/campaigns/${created.body.id}`).set(bearer(marketer))
        ).body;
        return v.status === 'completed' ? v : undefined;
      },
      { what: 'the campaign to complete', timeoutMs: 20_000 },
    );
    expect(done.counts).toMatchObject({ sent: 3, skipped: 2 });
    expect(skipped(await h.schedulerRegistry.metrics(), 'webhook', 'campaign')).toBe(2);
  });

  it('a worker counts the fallback channels it no longer needs', async () => {
    const res = await request(h.app)
      .post('/v1/notifications')
      .set(bearer(sender))
      .send({
        to: { webhookUrl: receiver.url('fallback-first'), email: 'unneeded@example.test' },
        channels: ['webhook', 'email'],
        strategy: 'fallback',
        content: { webhook: { payload: {} }, email: { subject: 's', text: 't' } },
      })
      .expect(202);
    await waitFor(
      async () => {
        const v = (await request(h.app).get(`/v1/notifications/${res.body.id}`).set(bearer(sender)))
          .body;
        return v.deliveries[1].status === 'skipped';
      },
      { what: 'the email fallback to be skipped' },
    );
    expect(skipped(await h.workerRegistry.metrics(), 'email', 'transactional')).toBe(1);
  });
});

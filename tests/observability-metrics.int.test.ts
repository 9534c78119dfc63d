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

// Every metric the alert rules and the Grafana dashboard read is exported by a
// running service, with the labels and label values they select on. The
// gateway, a webhook worker and the scheduler run as real processes
// (services/*/src/main.ts, as `pnpm start` runs them) against the real Redis
// and Postgres; a webhook notification goes through so counters and
// histograms have samples, and an email waits (no email worker runs) so a
// queue has an age; then each /metrics is scraped over HTTP, as Prometheus
// would.
import request from 'supertest';
import { CHANNELS, DELIVERY_OUTCOMES, GAUGED_STATES, laneQueues, LANES } from '@herald/core';
import {
  bearer,
  createHarness,
  createTestDatabase,
  deleteKeysWithPrefix,
  spawnService,
  TEST_JWT_SECRET,
  TEST_REDIS_URL,
  testToken,
  uniqueQueuePrefix,
  waitFor,
  WebhookReceiver,
  type Harness,
  type ServiceProcess,
  type TestDatabase,
} from '@herald/testkit';
import {
  ALERT_RULES,
  alertRules,
  DASHBOARD,
  dashboardExpressions,
  expandDashboardVariables,
  metricFamilies,
  parseExposition,
  read,
  selectors,
  type Family,
} from './support/ops-files';

// Three real processes start slowly on a loaded 2-core machine.
jest.setTimeout(180_000);

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

/** The service names the README's metrics table uses in its "from" column. */
const SCRAPED = { gateway: 'gateway', workers: 'worker-webhook', scheduler: 'scheduler' } as const;
type Scraped = (typeof SCRAPED)[keyof typeof SCRAPED];

/** The port a service logged when it started listening (started with port 0). */
function listeningPort(p: ServiceProcess, message: RegExp, field: string): Promise<number> {
  return waitFor(
    () => {
      if (p.child.exitCode !== null) throw new Error(`exited early:\n${p.output()}`);
      for (const line of p.output().split('\n')) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (typeof entry.msg === 'string' && message.test(entry.msg)) {
          return typeof entry[field] === 'number' ? entry[field] : undefined;
        }
      }
      return undefined;
    },
    { timeoutMs: 90_000, intervalMs: 100, what: `${message.source} in the service log` },
  );
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.text();
}

describe('metrics named by ops/ are exported by running services', () => {
  let testDb: TestDatabase;
  let receiver: WebhookReceiver;
  const prefix = uniqueQueuePrefix();
  const processes = new Map<Scraped, ServiceProcess>();
  const ports = new Map<Scraped, number>();
  /** Each service's /metrics text, as scraped over HTTP. */
  const exposition = new Map<Scraped, string>();
  /** Families of every scrape together. */
  const families = new Map<string, Family>();

  beforeAll(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    testDb = await createTestDatabase();
    const common = {
      DATABASE_URL: testDb.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'info',
    };
    processes.set(
      'gateway',
      spawnService('gateway', { ...common, PORT: '0', JWT_SECRET: TEST_JWT_SECRET }),
    );
    processes.set(
      'worker-webhook',
      spawnService('worker-webhook', {
        ...common,
        METRICS_PORT: '0',
        WEBHOOK_SIGNING_SECRET: SECRET,
        WEBHOOK_ALLOW_PRIVATE: 'true',
      }),
    );
    processes.set('scheduler', spawnService('scheduler', { ...common, METRICS_PORT: '0' }));
    ports.set(
      'gateway',
      await listeningPort(processes.get('gateway')!, /^gateway listening$/, 'port'),
    );
    ports.set(
      'worker-webhook',
      await listeningPort(
        processes.get('worker-webhook')!,
        /^webhook worker started$/,
        'metricsPort',
      ),
    );
    ports.set(
      'scheduler',
      await listeningPort(processes.get('scheduler')!, /^scheduler started$/, 'metricsPort'),
    );
    const gateway = `http://127.0.0.1:${ports.get('gateway')}`;

    const send = async (body: object) => {
      const res = await fetch(`${gateway}/v1/notifications`, {
        method: 'POST',
        headers: { ...bearer(writer), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(202);
      return (await res.json()) as { id: string };
    };
    const { id } = await send({
      to: { webhookUrl: receiver.url('observability') },
      channels: ['webhook'],
      content: { webhook: { payload: { hello: 'metrics' } } },
    });
    // No email worker runs: this one waits in email.transactional.
    await send({
      to: { email: 'waits@example.test' },
      channels: ['email'],
      content: { email: { subject: 'Waiting', text: 'for a worker' } },
    });
    await receiver.waitFor('observability', 1, 30_000);
    await waitFor(
      async () => {
        const res = await fetch(`${gateway}/v1/notifications/${id}`, { headers: bearer(writer) });
        return ((await res.json()) as { status: string }).status === 'sent';
      },
      { timeoutMs: 30_000, what: 'notification sent' },
    );
    // The worker observes end-to-end latency right after recording the send.
    await waitFor(
      async () =>
        /^herald_end_to_end_seconds_count\{[^}]*channel="webhook"[^}]*\} [1-9]/m.test(
          await scrape(ports.get('worker-webhook')!),
        ),
      { timeoutMs: 30_000, what: 'end-to-end latency observed' },
    );

    for (const [name, port] of ports) exposition.set(name, await scrape(port));
    for (const text of exposition.values()) parseExposition(text, families);
  });

  afterAll(async () => {
    for (const p of processes.values()) p.kill('SIGTERM');
    for (const p of processes.values()) {
      const stopped = await Promise.race([
        p.exited.then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 30_000).unref()),
      ]);
      if (!stopped) {
        p.kill('SIGKILL');
        await p.exited;
      }
    }
    await receiver?.stop();
    await deleteKeysWithPrefix(prefix);
    await testDb?.drop();
  });

  it('scrapes the gateway, a worker and the scheduler over HTTP as Prometheus text', () => {
    expect(exposition.get('gateway')).toMatch(
      /^# TYPE herald_notifications_accepted_total counter$/m,
    );
    expect(exposition.get('worker-webhook')).toMatch(/^# TYPE herald_deliveries_total counter$/m);
    expect(exposition.get('scheduler')).toMatch(/^# TYPE herald_queue_jobs gauge$/m);
    for (const [name, text] of exposition) {
      expect({ name, service: new RegExp(`service="${name}"`).test(text) }).toEqual({
        name,
        service: true,
      });
    }
  });

  it('reports how long the waiting email has been ready, from the scheduler', async () => {
    const age = (text: string) =>
      Number(
        /^herald_queue_oldest_job_age_seconds\{queue="email\.transactional"[^}]*\} (\S+)$/m.exec(
          text,
        )?.[1],
      );
    const first = age(exposition.get('scheduler')!);
    expect(first).toBeGreaterThan(0);
    await waitFor(async () => age(await scrape(ports.get('scheduler')!)) > first, {
      what: 'the age of the waiting email to grow',
    });
    // The worker reports only its own channel's lanes.
    const own = laneQueues('webhook').map((l) => l.name);
    const reported = [
      ...exposition
        .get('worker-webhook')!
        .matchAll(/^herald_queue_oldest_job_age_seconds\{queue="([^"]+)"/gm),
    ].map((m) => m[1]);
    expect(reported.sort()).toEqual(own.sort());
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

  it("the README's metrics table lists every Herald metric with its labels and who exports it", () => {
    const rows = [
      ...read('README.md').matchAll(
        /^\| `(herald_[a-z0-9_]+)\{([a-z_,]*)\}` *\| ([a-z, ]+?) *\|/gm,
      ),
    ].map((m) => ({
      name: m[1]!,
      labels: m[2]!.split(',').sort(),
      from: m[3]!.split(/,\s*/) as (keyof typeof SCRAPED)[],
    }));
    const exported = [...families.keys()].filter((n) => n.startsWith('herald_')).sort();
    expect(rows.map((r) => r.name).sort()).toEqual(exported);
    for (const { name, labels, from } of rows) {
      const family = families.get(name)!;
      const live = [...family.labels].filter((l) => l !== 'service' && l !== 'le').sort();
      expect({ name, labels }).toEqual({ name, labels: live });
      for (const source of from) {
        const service = SCRAPED[source];
        const text = exposition.get(service) ?? '';
        expect({ name, service, exports: text.includes(`# TYPE ${name} `) }).toEqual({
          name,
          service,
          exports: true,
        });
      }
    }
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

  it('does not count a fallback channel cancelled while the first one was sending', async () => {
    const before = skipped(await h.workerRegistry.metrics(), 'email', 'transactional');
    receiver.behave('fallback-slow', { kind: 'slow', ms: 1500 });
    const res = await request(h.app)
      .post('/v1/notifications')
      .set(bearer(sender))
      .send({
        to: { webhookUrl: receiver.url('fallback-slow'), email: 'cancelled@example.test' },
        channels: ['webhook', 'email'],
        strategy: 'fallback',
        content: { webhook: { payload: {} }, email: { subject: 's', text: 't' } },
      })
      .expect(202);
    // The webhook is mid-send (shown as sending after half a second): only the
    // pending email fallback can still be cancelled.
    await waitFor(
      async () =>
        (await request(h.app).get(`/v1/notifications/${res.body.id}`).set(bearer(sender))).body
          .deliveries[0].status === 'sending',
      { what: 'the webhook to show as sending' },
    );
    const cancel = await request(h.app)
      .post(`/v1/notifications/${res.body.id}/cancel`)
      .set(bearer(sender))
      .expect(200);
    expect(cancel.body.cancelled).toEqual([res.body.deliveries[1].id]);

    const view = await waitFor(
      async () => {
        const v = (await request(h.app).get(`/v1/notifications/${res.body.id}`).set(bearer(sender)))
          .body;
        return v.deliveries[0].status === 'sent' ? v : undefined;
      },
      { what: 'the webhook to be sent' },
    );
    expect(view.deliveries[1].status).toBe('cancelled');
    // The job completes once the worker has settled the rest of the chain.
    const lane = h.queues.get('webhook.transactional')!;
    await waitFor(async () => (await lane.getActiveCount()) === 0, { what: 'the job to complete' });
    expect(skipped(await h.workerRegistry.metrics(), 'email', 'transactional')).toBe(before);
  });
});

// The monitoring files under ops/ (Prometheus, alert rules, Grafana), the
// compose services that run them and .env.example, held to the services and
// config code that exist. promtool checks the Prometheus files for real; the
// metrics they name are checked against running services in
// observability-metrics.int.test.ts, which scrapes running services.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { CHANNELS } from '@herald/core';
import {
  ALERT_RULES,
  ALERT_TESTS,
  alertRules,
  DASHBOARD,
  dashboard,
  dashboardExpressions,
  dashboardPanels,
  defaultPort,
  expandDashboardVariables,
  isMapping,
  metricFamilies,
  promtool,
  PROMETHEUS_CONFIG,
  read,
  ROOT,
  SERVICES,
  type Mapping,
} from './support/ops-files';

jest.setTimeout(30_000);

function filesUnder(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((name) => {
    const rel = path.join(dir, name);
    return statSync(path.join(ROOT, rel)).isDirectory() ? filesUnder(rel) : [rel];
  });
}

describe('ops/', () => {
  const files = filesUnder('ops');

  it.each(files.filter((f) => /\.(ya?ml|json)$/.test(f)))('%s parses', (file) => {
    const text = read(file);
    const doc: unknown = file.endsWith('.json') ? JSON.parse(text) : parse(text);
    expect(isMapping(doc)).toBe(true);
  });
});

// ---------------------------------------------------------------- Prometheus

const prometheusConfig = parse(read(PROMETHEUS_CONFIG)) as {
  rule_files?: string[];
  scrape_configs: {
    job_name: string;
    metrics_path?: string;
    scheme?: string;
    static_configs?: { targets: string[] }[];
  }[];
};

/** host:port targets of each scrape job. */
const scrapeTargets = new Map(
  prometheusConfig.scrape_configs.map((job) => [
    job.job_name,
    (job.static_configs ?? []).flatMap((s) => s.targets),
  ]),
);

const COMPOSE_TEXT = read('docker-compose.yml');
const compose = parse(COMPOSE_TEXT, { merge: true }) as { services: Record<string, Mapping> };

describe('ops/prometheus/prometheus.yml', () => {
  it('passes promtool check config (which also checks the rule files it loads)', async () => {
    const out = await promtool('check', 'config', PROMETHEUS_CONFIG);
    expect(out).toMatch(/SUCCESS/);
  });

  it('loads alerts.yml', () => {
    const dir = path.dirname(PROMETHEUS_CONFIG);
    const loaded = (prometheusConfig.rule_files ?? []).map((f) => path.join(dir, f));
    expect(loaded).toContain(ALERT_RULES);
  });

  it.each(SERVICES)(
    'scrapes %s as a job of its name, by compose service name, on its default port',
    (name) => {
      expect(Object.keys(compose.services)).toContain(name);
      expect(scrapeTargets.get(name)).toEqual([`${name}:${defaultPort(name)}`]);
      const job = prometheusConfig.scrape_configs.find((j) => j.job_name === name)!;
      expect(job.metrics_path ?? '/metrics').toBe('/metrics');
      expect(job.scheme ?? 'http').toBe('http');
    },
  );

  it('scrapes nothing but compose services (and Prometheus itself)', () => {
    for (const [job, targets] of scrapeTargets) {
      for (const target of targets) {
        const host = target.split(':')[0]!;
        if (job === 'prometheus' && host === 'localhost') continue;
        expect({ job, host, known: host in compose.services }).toEqual({ job, host, known: true });
      }
    }
  });
});

describe('ops/prometheus/alerts.yml', () => {
  const rules = alertRules();
  const names = [...new Set(rules.map((r) => r.alert))];

  it('passes promtool check rules', async () => {
    expect(await promtool('check', 'rules', ALERT_RULES)).toMatch(/SUCCESS/);
  });

  it('passes its unit tests (promtool test rules)', async () => {
    expect(await promtool('test', 'rules', ALERT_TESTS)).toMatch(/SUCCESS/);
  });

  it('has the alerts operators rely on', () => {
    expect(names).toEqual(
      expect.arrayContaining([
        'HeraldDLQGrowing',
        'HeraldCircuitOpen',
        'HeraldTransactionalLatencyHigh',
        'HeraldQueueLagGrowing',
        'HeraldOutboxBacklog',
        'HeraldWorkerDown',
        'HeraldGatewayErrors',
        'HeraldGatewaySlow',
      ]),
    );
  });

  it.each(rules.map((r, i) => [`${r.alert} #${i}`, r] as const))(
    '%s waits with for:, has a severity, a summary, a description and its runbook',
    (_label, rule) => {
      expect(rule.for).toMatch(/^\d+[smh]$/);
      expect(['warning', 'critical']).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary).toBeTruthy();
      expect(rule.annotations?.description).toBeTruthy();
      expect(rule.annotations?.runbook).toBe(
        `https://github.com/herald/herald#runbook-${rule.alert.toLowerCase()}`,
      );
    },
  );

  it.each(names)('%s has a unit test in which it fires', (name) => {
    const doc = parse(read(ALERT_TESTS)) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
    };
    const cases = doc.tests.flatMap((t) => t.alert_rule_test ?? []);
    expect(cases.some((c) => c.alertname === name && (c.exp_alerts ?? []).length > 0)).toBe(true);
  });

  it.each(names)('%s has a "### Runbook: <name>" section whose anchor its link names', (name) => {
    const text = read('README.md');
    const heading = new RegExp(`^### Runbook: ${name}$`, 'm');
    expect({ name, section: heading.test(text) }).toEqual({ name, section: true });
    // GitHub's anchor: lower case, punctuation dropped, spaces to hyphens.
    const anchor = `Runbook: ${name}`
      .toLowerCase()
      .replace(/[^\w\- ]/g, '')
      .replace(/ /g, '-');
    expect(anchor).toBe(`runbook-${name.toLowerCase()}`);
  });
});

// ---------------------------------------------------------------- Grafana

/**
 * What the dashboard must show (issue 5): a panel whose title says so, every
 * query of which reads the metric, grouped by the labels it is shown "per".
 */
const REQUIRED_PANELS: {
  need: string;
  title: RegExp;
  metric: string;
  by: string[];
  selects?: string[];
  rate?: boolean;
  quantiles?: number[];
}[] = [
  {
    need: 'deliveries per channel and outcome',
    title: /^Deliveries per channel and outcome$/,
    metric: 'herald_deliveries_total',
    by: ['channel', 'outcome'],
    rate: true,
  },
  {
    need: 'end-to-end latency p50/p99 per channel and lane',
    title: /^End-to-end latency p50 \/ p99 per channel and lane$/,
    metric: 'herald_end_to_end_seconds',
    by: ['channel', 'lane', 'le'],
    rate: true,
    quantiles: [0.5, 0.99],
  },
  {
    // herald_provider_duration_seconds has {channel} only (SPEC §6).
    need: 'provider latency p50/p99 per channel',
    title: /^Provider latency p50 \/ p99 per channel$/,
    metric: 'herald_provider_duration_seconds',
    by: ['channel', 'le'],
    rate: true,
    quantiles: [0.5, 0.99],
  },
  {
    need: 'queue depth per lane',
    title: /^Queue depth per lane$/,
    metric: 'herald_queue_jobs',
    by: ['queue', 'state'],
  },
  {
    need: 'queue age per lane',
    title: /^Queue age per lane/,
    metric: 'herald_queue_oldest_job_age_seconds',
    by: ['queue'],
  },
  {
    need: 'DLQ size',
    title: /^Dead-letter queue size per channel$/,
    metric: 'herald_dlq_jobs',
    by: ['channel'],
  },
  {
    need: 'circuit state',
    title: /^Circuit state per channel$/,
    metric: 'herald_circuit_state',
    by: ['channel'],
  },
  {
    need: 'retry rate',
    title: /^Retry rate/,
    metric: 'herald_deliveries_total',
    by: ['channel'],
    selects: ['outcome="retried"'],
    rate: true,
  },
  {
    need: 'ingest rate',
    title: /^Ingest rate/,
    metric: 'herald_notifications_accepted_total',
    by: [],
    rate: true,
  },
];

/** Labels a panel "per <word>" must group by (a lane queue's name carries its lane). */
const PER_LABELS: Record<string, string[]> = {
  channel: ['channel'],
  lane: ['lane', 'queue'],
  outcome: ['outcome'],
  outbox: ['outbox'],
  queue: ['queue'],
  route: ['route'],
  status: ['status'],
};

/** Label names of every `by (…)` clause of an expression. */
function groupedBy(expr: string): string[] {
  return [...expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((m) =>
    m[1]!.split(',').map((l) => l.trim()),
  );
}

describe('ops/grafana/dashboards/herald.json', () => {
  const d = dashboard();
  const panels = dashboardPanels(d).filter((p) => p.type !== 'row');

  it('is the Herald dashboard, schema 39 or later', () => {
    expect(d.uid).toBe('herald');
    expect(d.title).toBe('Herald');
    expect(d.schemaVersion).toBeGreaterThanOrEqual(39);
  });

  it('has a $channel variable that the channel-scoped queries use', () => {
    const channel = d.templating.list.find((v) => v.name === 'channel');
    expect(channel).toMatchObject({ type: 'query', includeAll: true });
    const scoped = dashboardExpressions(d).filter((e) => /herald_(deliveries|dlq|circuit)/.test(e));
    expect(scoped.length).toBeGreaterThan(0);
    for (const expr of scoped) expect(expr).toContain('$channel');
  });

  it('gives every panel a unique id, a query and a place on the 24-column grid', () => {
    const ids = dashboardPanels(d).map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect({ title: p.title, queries: (p.targets ?? []).length > 0 }).toEqual({
        title: p.title,
        queries: true,
      });
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
    }
  });

  it('shows circuit states by name', () => {
    const circuit = panels.filter((p) =>
      (p.targets ?? []).some((t) => t.expr.includes('herald_circuit_state')),
    );
    expect(circuit.map((p) => p.type)).toEqual(expect.arrayContaining(['state-timeline']));
    for (const p of circuit) {
      const texts = JSON.stringify(p.fieldConfig?.defaults?.mappings ?? []);
      for (const state of ['closed', 'half-open', 'open']) expect(texts).toContain(`"${state}"`);
    }
  });

  it.each(REQUIRED_PANELS)('shows $need', (need) => {
    const titled = panels.filter((p) => need.title.test(p.title));
    expect({ need: need.need, titled: titled.map((p) => p.title) }).toEqual({
      need: need.need,
      titled: [expect.stringMatching(need.title)],
    });
    const exprs = (titled[0]!.targets ?? []).map((t) => t.expr);
    expect(exprs.length).toBeGreaterThan(0);
    for (const expr of exprs) {
      expect({ expr, metrics: metricFamilies(expr) }).toEqual({
        expr,
        metrics: [need.metric],
      });
      expect({ expr, by: groupedBy(expr) }).toEqual({
        expr,
        by: expect.arrayContaining(need.by),
      });
      for (const selected of need.selects ?? []) expect(expr).toContain(selected);
      if (need.rate) expect(expr).toMatch(/\brate\(/);
    }
    for (const q of need.quantiles ?? []) {
      expect({
        quantile: q,
        shown: exprs.some((e) => e.startsWith(`histogram_quantile(${q},`)),
      }).toEqual({
        quantile: q,
        shown: true,
      });
    }
  });

  it('groups every panel by what its title says it is "per"', () => {
    for (const p of panels) {
      const per = /\bper ([a-z]+(?: and [a-z]+)*)/i.exec(p.title)?.[1];
      if (!per) continue;
      for (const word of per.toLowerCase().split(' and ')) {
        const labels = PER_LABELS[word];
        expect({ title: p.title, word, known: labels !== undefined }).toEqual({
          title: p.title,
          word,
          known: true,
        });
        for (const { expr } of p.targets ?? []) {
          const grouped = groupedBy(expr).some((l) => labels!.includes(l));
          expect({ title: p.title, expr, word, grouped }).toEqual({
            title: p.title,
            expr,
            word,
            grouped: true,
          });
        }
      }
    }
  });

  it('has only queries Prometheus can parse (promtool check rules)', async () => {
    // Each query as a recording rule, Grafana's variables replaced.
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-dashboard-'));
    try {
      const file = path.join(dir, 'dashboard-queries.yml');
      const rules = dashboardExpressions(d).map((expr, i) => ({
        record: `herald_dashboard:query_${i}`,
        expr: expandDashboardVariables(expr),
      }));
      writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
      expect(await promtool('check', 'rules', file)).toMatch(`SUCCESS: ${rules.length} rules`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ops/grafana/provisioning', () => {
  const grafana = compose.services.grafana ?? {};
  const mounts = ((grafana.volumes as string[] | undefined) ?? []).map((v) => v.split(':'));
  const mountOf = (source: string) => mounts.find(([from]) => from === source)?.[1];

  it('provisions the compose Prometheus as the default datasource', () => {
    const doc = parse(read('ops/grafana/provisioning/datasources/prometheus.yml')) as {
      datasources: { type: string; url: string; uid: string; isDefault?: boolean }[];
    };
    const [ds] = doc.datasources;
    expect(ds).toMatchObject({
      type: 'prometheus',
      url: 'http://prometheus:9090',
      isDefault: true,
    });
    expect(read(DASHBOARD)).toContain(`"value": "${ds!.uid}"`);
  });

  it('loads dashboards from where compose mounts ops/grafana/dashboards', () => {
    const doc = parse(read('ops/grafana/provisioning/dashboards/herald.yml')) as {
      providers: { type: string; options: { path: string } }[];
    };
    expect(doc.providers[0]).toMatchObject({ type: 'file' });
    expect(mountOf('./ops/grafana/dashboards')).toBe(doc.providers[0]!.options.path);
    expect(mountOf('./ops/grafana/provisioning')).toBe('/etc/grafana/provisioning');
  });
});

// ---------------------------------------------------------------- README

describe('README.md on metrics', () => {
  const readme = read('README.md');
  /** `herald_x{a,b}` rows of the metrics table (checked against a live scrape elsewhere). */
  const documented = new Map(
    [...readme.matchAll(/^\| `(herald_[a-z0-9_]+)\{([a-z_,]*)\}`/gm)].map((m) => [
      m[1]!,
      m[2]!.split(','),
    ]),
  );

  it('documents every metric the dashboard and the alert rules read', () => {
    const read = new Set(
      [...dashboardExpressions(), ...alertRules().map((r) => r.expr)].flatMap((e) =>
        metricFamilies(e),
      ),
    );
    expect([...read].filter((m) => !documented.has(m))).toEqual([]);
    expect(documented.get('herald_queue_oldest_job_age_seconds')).toEqual(['queue']);
  });

  it('claims latency "per lane" only for metrics that have a lane label', () => {
    const prose = readme.replace(/\s+/g, ' ');
    const claims = [
      ...prose.matchAll(
        /\b(end-to-end|provider)(?: and (end-to-end|provider))? latency[^.;]*?per channel and lane/gi,
      ),
    ].flatMap((m) => [m[1]!, m[2]].filter(Boolean).map((w) => w!.toLowerCase()));
    const metricOf: Record<string, string> = {
      'end-to-end': 'herald_end_to_end_seconds',
      provider: 'herald_provider_duration_seconds',
    };
    for (const claim of claims) {
      expect({ claim, labels: documented.get(metricOf[claim]!) }).toEqual({
        claim,
        labels: expect.arrayContaining(['lane']),
      });
    }
    expect(claims).toContain('end-to-end');
  });
});

// ---------------------------------------------------------------- compose

describe('docker-compose.yml monitoring', () => {
  const prometheus = compose.services.prometheus ?? {};
  const grafana = compose.services.grafana ?? {};
  const volumes = (service: Mapping) => (service.volumes as string[] | undefined) ?? [];

  it('runs Prometheus with ops/prometheus mounted read-only where its command looks', () => {
    expect(String(prometheus.image)).toMatch(/^prom\/prometheus:/);
    expect(volumes(prometheus)).toContain('./ops/prometheus:/etc/prometheus:ro');
    expect(prometheus.command).toContain('--config.file=/etc/prometheus/prometheus.yml');
    expect(prometheus.ports).toContain('9090:9090');
  });

  it('runs Grafana after Prometheus, read-only provisioning, admin password from the environment', () => {
    expect(String(grafana.image)).toMatch(/^grafana\/grafana:/);
    for (const v of volumes(grafana).filter((v) => v.startsWith('./'))) expect(v).toMatch(/:ro$/);
    expect(grafana.depends_on).toMatchObject({ prometheus: { condition: 'service_healthy' } });
    const env = grafana.environment as Record<string, string>;
    expect(env.GF_SECURITY_ADMIN_PASSWORD).toMatch(/^\$\{GRAFANA_ADMIN_PASSWORD:-/);
  });

  it('mounts only files that exist in the repository', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const v of volumes(service).filter((v) => v.startsWith('./'))) {
        const source = v.split(':')[0]!;
        expect({
          name,
          source,
          exists: statSync(path.join(ROOT, source), { throwIfNoEntry: false }) !== undefined,
        }).toEqual({ name, source, exists: true });
      }
    }
  });
});

// ---------------------------------------------------------------- .env.example

/** Variable names in the zod env schemas of packages/core/src/config. */
function configVariables(): string[] {
  const dir = path.join(ROOT, 'packages/core/src/config');
  const names = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
    const text = readFileSync(path.join(dir, file), 'utf8');
    for (const m of text.matchAll(/^\s+([A-Z][A-Z0-9_]*):/gm)) names.add(m[1]!);
    // Channel-prefixed names are computed: `${prefixOf(channel)}_CONCURRENCY`.
    for (const m of text.matchAll(/`\$\{prefixOf\(channel\)\}(_[A-Z0-9_]+)`/g)) {
      for (const channel of CHANNELS) names.add(`${channel.toUpperCase()}${m[1]}`);
    }
  }
  return [...names].sort();
}

describe('.env.example', () => {
  const listed = new Set(
    [...read('.env.example').matchAll(/^#?\s?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!),
  );
  const composeVariables = [...COMPOSE_TEXT.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!);

  it('lists every variable the config code reads', () => {
    const variables = configVariables();
    expect(variables).toEqual(expect.arrayContaining(['PORT', 'METRICS_PORT', 'REDIS_URL']));
    expect(variables).toEqual(
      expect.arrayContaining(['EMAIL_CONCURRENCY', 'WEBHOOK_RATE_PER_SECOND']),
    );
    expect(variables.filter((v) => !listed.has(v))).toEqual([]);
  });

  it('lists every variable docker-compose.yml substitutes', () => {
    expect(composeVariables.filter((v) => !listed.has(v))).toEqual([]);
  });

  it('lists nothing that nothing reads', () => {
    const known = new Set([...configVariables(), ...composeVariables]);
    expect([...listed].filter((v) => !known.has(v))).toEqual([]);
  });
});

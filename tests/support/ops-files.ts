// What the observability tests read from ops/: alert rules, the Grafana
// dashboard and the PromQL in them, and the Herald services with their ports.
import { execFile as execFileCallback } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { DEFAULT_METRICS_PORT, loadGatewayConfig } from '@herald/core';

const execFile = promisify(execFileCallback);

export const ROOT = path.resolve(__dirname, '..', '..');
export const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

export const PROMETHEUS_CONFIG = 'ops/prometheus/prometheus.yml';
export const ALERT_RULES = 'ops/prometheus/alerts.yml';
export const ALERT_TESTS = 'ops/prometheus/alerts.test.yml';
export const DASHBOARD = 'ops/grafana/dashboards/herald.json';

/** Every directory under services/ with a src/main.ts, as the CLI discovers them. */
export const SERVICES = readdirSync(path.join(ROOT, 'services'), { withFileTypes: true })
  .filter(
    (e) => e.isDirectory() && existsSync(path.join(ROOT, 'services', e.name, 'src', 'main.ts')),
  )
  .map((e) => e.name)
  .sort();

/** The port a service serves /metrics on when nothing overrides it, read from the config code. */
export function defaultPort(service: string): number {
  if (service === 'gateway') return loadGatewayConfig({ JWT_SECRET: 'x'.repeat(32) }).port;
  const key = service.replace(/^worker-/, '');
  if (!Object.hasOwn(DEFAULT_METRICS_PORT, key)) {
    throw new Error(`no default METRICS_PORT for ${service}: add "${key}" to DEFAULT_METRICS_PORT`);
  }
  return DEFAULT_METRICS_PORT[key as keyof typeof DEFAULT_METRICS_PORT];
}

export type Mapping = Record<string, unknown>;
export const isMapping = (value: unknown): value is Mapping =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Runs promtool; fails (never skips) when it is not installed: CI installs it. */
export async function promtool(...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await execFile('promtool', args, { cwd: ROOT });
    return `${stdout}${stderr}`;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error('promtool is not installed (Debian: apt-get install prometheus)');
    }
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

// ---------------------------------------------------------------- alert rules

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function alertRules(): AlertRule[] {
  const doc = parse(read(ALERT_RULES)) as { groups: { rules: Mapping[] }[] };
  return doc.groups.flatMap((g) => g.rules).filter((r): r is Mapping & AlertRule => 'alert' in r);
}

// ---------------------------------------------------------------- dashboard

export interface DashboardTarget {
  expr: string;
  refId: string;
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: DashboardTarget[];
  fieldConfig?: { defaults?: { mappings?: unknown[] } };
  panels?: DashboardPanel[];
}

export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: DashboardPanel[];
  templating: { list: { name: string; type: string; includeAll?: boolean }[] };
}

export const dashboard = (): Dashboard => JSON.parse(read(DASHBOARD)) as Dashboard;

/** Every panel, rows' collapsed children included. */
export function dashboardPanels(d: Dashboard = dashboard()): DashboardPanel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Grafana's variables replaced by values Prometheus would see. */
export function expandDashboardVariables(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$__interval|\$\{__rate_interval\}/g, '5m')
    .replace(/\$\{?channel\}?/g, '.+');
}

export function dashboardExpressions(d: Dashboard = dashboard()): string[] {
  return dashboardPanels(d).flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}

// ---------------------------------------------------------------- PromQL

const HISTOGRAM_SERIES = /_(bucket|sum|count)$/;

/** Metric families a PromQL expression reads whose names start with `prefix`. */
export function metricFamilies(expr: string, prefix: RegExp = /herald_/): string[] {
  const names = expr.match(new RegExp(`\\b${prefix.source}[a-z0-9_]+`, 'g')) ?? [];
  return [...new Set(names.map((n) => n.replace(HISTOGRAM_SERIES, '')))];
}

/** `name{label op "value", …}` selectors of an expression (Grafana variables expanded first). */
export function selectors(
  expr: string,
): { name: string; matchers: { label: string; op: string; value: string }[] }[] {
  return [...expr.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)].map((m) => ({
    name: m[1]!,
    matchers: [...m[2]!.matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map(
      (x) => ({ label: x[1]!, op: x[2]!, value: x[3]! }),
    ),
  }));
}

// ---------------------------------------------------------------- exposition

export interface Family {
  type: string;
  /** Label names seen on its samples. */
  labels: Set<string>;
  /** Values seen per label. */
  values: Map<string, Set<string>>;
  samples: number;
}

/** Metric families of a Prometheus text exposition, by name. */
export function parseExposition(text: string, into = new Map<string, Family>()) {
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      if (!into.has(type[1]!)) {
        into.set(type[1]!, { type: type[2]!, labels: new Set(), values: new Map(), samples: 0 });
      }
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? /.exec(line);
    if (!sample) continue;
    const family =
      into.get(sample[1]!) ?? into.get(sample[1]!.replace(/_(bucket|sum|count|total)$/, ''));
    if (!family) continue;
    family.samples += 1;
    for (const [, label, value] of (sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      family.labels.add(label!);
      const values = family.values.get(label!) ?? new Set<string>();
      values.add(value!);
      family.values.set(label!, values);
    }
  }
  return into;
}

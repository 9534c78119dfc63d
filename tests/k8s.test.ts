// There is no cluster here, so k8s/ is checked by reading it: every file
// parses, the kustomizations resolve (tests/kustomize-lite.ts), and the
// manifests agree with the code: the services under services/, the ports their
// config really uses, the configuration defaults and the queue topology.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  CHANNELS,
  DEFAULT_METRICS_PORT,
  DEFAULT_QUEUE_PREFIX,
  laneQueues,
  loadChannelWorkerConfig,
  loadEmailConfig,
  loadGatewayConfig,
  loadPushConfig,
  loadSchedulerConfig,
  loadTelegramConfig,
  loadWebhookConfig,
  type Channel,
  type Env,
} from '@herald/core';
import { DOCS_PATH, OPENAPI_PATH } from '@herald/api';
import { WORKER_DRAIN_TIMEOUT_MS } from '@herald/worker-kit';
import { KEDA_OUTPUT, kedaResources, renderKedaManifests } from '../k8s/generate-keda';
import {
  build,
  readKustomization,
  readResources,
  readYamlDocuments,
  referencedPaths,
  type Mapping,
  type Resource,
} from './kustomize-lite';
import { ingressPaths, podSpec, portNumber, selects, type Container } from './k8s-pods';

const ROOT = path.resolve(__dirname, '..');
const K8S = path.join(ROOT, 'k8s');
const BASE = path.join(K8S, 'base');
const OVERLAY = path.join(K8S, 'overlays', 'example');
const JWT = { JWT_SECRET: 'x'.repeat(32) };
/** How long a worker's close() waits for jobs in flight: the grace period must outlast it. */
const WORKER_DRAIN_SECONDS = WORKER_DRAIN_TIMEOUT_MS / 1000;

const walk = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? walk(file) : [file];
  });
const YAML_FILES = walk(K8S).filter((f) => /\.ya?ml$/.test(f));
const KUSTOMIZATION_DIRS = YAML_FILES.filter((f) => path.basename(f) === 'kustomization.yaml').map(
  path.dirname,
);

/** Every directory under services/ with a src/main.ts, as the image's entrypoint finds them. */
const SERVICES = readdirSync(path.join(ROOT, 'services'), { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(path.join(ROOT, 'services', e.name, 'src/main.ts')))
  .map((e) => e.name)
  .sort();
const channelOf = (service: string) => service.replace(/^worker-/, '') as Channel;
const isWorker = (service: string) => service.startsWith('worker-');

/** The port a service listens on given its environment, read through the config code. */
function listenPort(service: string, env: Env): number {
  if (service === 'gateway') return loadGatewayConfig({ ...JWT, ...env }).port;
  if (service === 'scheduler') return loadSchedulerConfig(env).metricsPort;
  return loadChannelWorkerConfig(channelOf(service), env).metricsPort;
}
const defaultPort = (service: string) =>
  service === 'gateway'
    ? loadGatewayConfig(JWT).port
    : service === 'scheduler'
      ? loadSchedulerConfig({}).metricsPort
      : DEFAULT_METRICS_PORT[channelOf(service)];

describe('k8s files', () => {
  it.each(YAML_FILES.map((f) => path.relative(ROOT, f)))('%s parses', (file) => {
    const docs = readYamlDocuments(path.join(ROOT, file));
    expect(docs.length).toBeGreaterThan(0);
    if (path.basename(file) !== 'kustomization.yaml') readResources(path.join(ROOT, file));
  });

  it.each(KUSTOMIZATION_DIRS.map((d) => path.relative(ROOT, d)))(
    '%s/kustomization.yaml names only files that exist, and every file there is used',
    (dir) => {
      const k = readKustomization(path.join(ROOT, dir));
      const named = referencedPaths(k);
      for (const file of named)
        expect({ file, exists: existsSync(file) }).toEqual({ file, exists: true });
      const local = readdirSync(path.join(ROOT, dir))
        .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
        .map((f) => path.join(ROOT, dir, f));
      const unused = local.filter((f) => !named.includes(f)).map((f) => path.basename(f));
      // The Secret example is documentation: real secrets never come from git.
      expect(unused).toEqual(dir === path.relative(ROOT, BASE) ? ['secret.example.yaml'] : []);
    },
  );

  it('commits exactly what the KEDA generator writes', () => {
    expect(readFileSync(KEDA_OUTPUT, 'utf8')).toBe(renderKedaManifests());
    expect(readResources(KEDA_OUTPUT)).toEqual(kedaResources());
  });
});

describe.each([
  ['base', BASE],
  ['overlays/example', OVERLAY],
])('kustomize build %s', (_name, dir) => {
  const resources = build(dir);
  const of = (kind: string) => resources.filter((r) => r.kind === kind);
  const find = (kind: string, name: string) => of(kind).find((r) => r.metadata.name === name);
  const config = find('ConfigMap', 'herald-config')?.data as Record<string, string>;
  const deployments = of('Deployment');
  const workloads = [...deployments, ...of('Job')];
  const containerOf = (r: Resource) => (podSpec(r).containers as Container[])[0]!;
  const envOf = (c: Container): Env => ({
    ...config,
    ...Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value])),
  });

  it('has the ConfigMap every pod reads, and no Secret', () => {
    expect(config).toBeDefined();
    expect(of('Secret')).toEqual([]);
  });

  it('has one Deployment per service, and none for services that do not exist', () => {
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(SERVICES);
  });

  it.each(SERVICES)('runs %s from the image with probes on the port its config uses', (service) => {
    const deployment = find('Deployment', service)!;
    const container = containerOf(deployment);
    expect(container.args).toEqual([service]);
    const env = envOf(container);
    const port = listenPort(service, env);
    expect(port).toBe(defaultPort(service));
    expect(container.envFrom).toEqual([
      { configMapRef: { name: 'herald-config' } },
      { secretRef: { name: 'herald-secrets' } },
    ]);
    const probes = {
      readiness: container.readinessProbe?.httpGet,
      liveness: container.livenessProbe?.httpGet,
      startup: container.startupProbe?.httpGet,
    };
    expect(probes.readiness?.path).toBe('/readyz');
    expect(probes.liveness?.path).toBe('/healthz');
    for (const probe of Object.values(probes)) {
      expect(portNumber(container, probe?.port)).toBe(port);
    }
    const annotations = (deployment.spec as Mapping & { template: Resource }).template.metadata
      .annotations;
    expect(annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(port),
      'prometheus.io/path': '/metrics',
    });
  });

  it.each(SERVICES)('gives %s longer to stop than the workers take to drain', (service) => {
    const spec = podSpec(find('Deployment', service)!);
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(WORKER_DRAIN_SECONDS + 5);
  });

  it('pauses the gateway before SIGTERM so endpoints update first', () => {
    expect(containerOf(find('Deployment', 'gateway')!).lifecycle?.preStop).toBeDefined();
  });

  it('runs every pod non-root, read-only, without privileges, with requests and limits', () => {
    for (const w of workloads) {
      const spec = podSpec(w);
      expect({ name: w.metadata.name, pod: spec.securityContext }).toMatchObject({
        pod: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      });
      expect((spec.securityContext as Mapping).runAsUser).toBeGreaterThan(0);
      expect(spec.automountServiceAccountToken).toBe(false);
      for (const c of spec.containers as Container[]) {
        expect({ name: c.name, ctx: c.securityContext }).toMatchObject({
          ctx: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
        });
        expect(c.resources).toMatchObject({
          requests: { cpu: expect.anything(), memory: expect.anything() },
          limits: { memory: expect.anything() },
        });
        // Read-only root: the directories the app writes to are volumes.
        const mounts = (c.volumeMounts ?? []).map((m) => m.mountPath);
        expect(mounts).toContain('/tmp');
        const volumes = ((spec.volumes as Mapping[] | undefined) ?? []).map((v) => v.name);
        for (const m of c.volumeMounts ?? []) expect(volumes).toContain(m.name);
      }
    }
    const email = containerOf(find('Deployment', 'worker-email')!);
    const outbox = path.posix.resolve('/app', loadEmailConfig(envOf(email)).outboxDir);
    const mounts = (email.volumeMounts ?? []).map((m) => m.mountPath);
    expect(mounts.some((m) => outbox === m || outbox.startsWith(`${m}/`))).toBe(true);
  });

  it('uses one image for every workload', () => {
    const images = new Set(workloads.map((w) => containerOf(w).image));
    expect(images.size).toBe(1);
    if (dir === BASE) expect([...images]).toEqual(['herald:latest']);
  });

  it('runs the migration as a Job that retries a little and cleans up', () => {
    const job = of('Job').find((j) => containerOf(j).args?.[0] === 'migrate');
    expect(job?.spec).toMatchObject({
      backoffLimit: expect.any(Number),
      ttlSecondsAfterFinished: expect.any(Number),
      template: { spec: { restartPolicy: expect.stringMatching(/^(Never|OnFailure)$/) } },
    });
  });

  it('gives every Deployment a PodDisruptionBudget that selects its pods', () => {
    for (const d of deployments) {
      const pdbs = of('PodDisruptionBudget').filter((p) =>
        selects((p.spec as Mapping).selector, d),
      );
      expect({ name: d.metadata.name, pdbs: pdbs.length }).toEqual({
        name: d.metadata.name,
        pdbs: 1,
      });
      const spec = pdbs[0]!.spec as Mapping;
      expect(spec.minAvailable ?? spec.maxUnavailable).toBeDefined();
      expect(selects((d.spec as Mapping).selector, d)).toBe(true);
    }
  });

  it('routes the Ingress to the gateway Service, and the Service to its HTTP port', () => {
    const gateway = find('Deployment', 'gateway')!;
    const service = find('Service', 'gateway')!;
    expect(selects({ matchLabels: (service.spec as Mapping).selector }, gateway)).toBe(true);
    const ports = (service.spec as { ports: { name: string; port: number; targetPort: unknown }[] })
      .ports;
    for (const p of ports) {
      expect(portNumber(containerOf(gateway), p.targetPort)).toBe(defaultPort('gateway'));
    }
    const ingress = of('Ingress');
    expect(ingress).toHaveLength(1);
    const paths = ingressPaths(ingress[0]!);
    expect(paths.length).toBeGreaterThan(0);
    for (const { path: prefix, backend } of paths) {
      // Metrics and probes stay inside the cluster.
      for (const internal of ['/metrics', '/healthz', '/readyz']) {
        const exposed = internal === prefix || internal.startsWith(prefix.replace(/\/?$/, '/'));
        expect({ prefix, internal, exposed }).toEqual({ prefix, internal, exposed: false });
      }
      expect(backend.service.name).toBe('gateway');
      expect(
        ports.some(
          (p) => p.name === backend.service.port.name || p.port === backend.service.port.number,
        ),
      ).toBe(true);
    }
  });

  it('routes the API reference the gateway serves (/docs, /openapi.json) through the Ingress', () => {
    const paths = ingressPaths(of('Ingress')[0]!);
    for (const served of [DOCS_PATH, `${DOCS_PATH}/swagger-ui.css`, OPENAPI_PATH]) {
      const routed = paths.some(({ path: p, pathType }) =>
        pathType === 'Exact'
          ? p === served
          : served === p || served.startsWith(`${p.replace(/\/$/, '')}/`),
      );
      expect({ served, routed }).toEqual({ served, routed: true });
    }
  });

  it('scales the gateway on CPU and leaves its replica count to the HPA', () => {
    const hpa = of('HorizontalPodAutoscaler');
    expect(hpa.map((h) => (h.spec as Mapping).scaleTargetRef)).toEqual([
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'gateway' },
    ]);
    expect(JSON.stringify(hpa[0]!.spec)).toContain('"name":"cpu"');
    expect((find('Deployment', 'gateway')!.spec as Mapping).replicas).toBeUndefined();
  });

  it('scales every worker with KEDA on the wait lists of its own lane queues', () => {
    const prefix = config.QUEUE_PREFIX;
    expect(prefix).toBe(DEFAULT_QUEUE_PREFIX);
    const auths = of('TriggerAuthentication').map((a) => a.metadata.name);
    expect(SERVICES.filter(isWorker).map(channelOf).sort()).toEqual([...CHANNELS].sort());
    for (const service of SERVICES.filter(isWorker)) {
      const scaled = of('ScaledObject').filter(
        (s) => (s.spec as { scaleTargetRef: Mapping }).scaleTargetRef.name === service,
      );
      expect({ service, count: scaled.length }).toEqual({ service, count: 1 });
      const spec = scaled[0]!.spec as {
        minReplicaCount: number;
        triggers: { type: string; metadata: Mapping; authenticationRef: { name: string } }[];
      };
      const expected = laneQueues(channelOf(service)).map((q) => `${prefix}:${q.name}:wait`);
      expect(spec.triggers.map((t) => t.metadata.listName).sort()).toEqual(expected.sort());
      for (const t of spec.triggers) {
        expect(t.type).toBe('redis');
        expect(Number(t.metadata.listLength)).toBeGreaterThan(0);
        expect(auths).toContain(t.authenticationRef.name);
      }
      // Retries wait in BullMQ's delayed set, promoted only by a running worker.
      expect(spec.minReplicaCount).toBeGreaterThanOrEqual(1);
      expect((find('Deployment', service)!.spec as Mapping).replicas).toBeUndefined();
    }
  });

  it('denies ingress by default and opens only ports the pods have', () => {
    const policies = of('NetworkPolicy');
    const deny = policies.find((p) => {
      const spec = p.spec as Mapping;
      return spec.ingress === undefined && JSON.stringify(spec.policyTypes) === '["Ingress"]';
    });
    for (const d of deployments) expect(selects((deny?.spec as Mapping).podSelector, d)).toBe(true);
    for (const policy of policies) {
      const spec = policy.spec as { podSelector: unknown; ingress?: { ports?: Mapping[] }[] };
      const pods = deployments.filter((d) => selects(spec.podSelector, d));
      expect({ policy: policy.metadata.name, pods: pods.length > 0 }).toEqual({
        policy: policy.metadata.name,
        pods: true,
      });
      for (const rule of spec.ingress ?? []) {
        for (const p of rule.ports ?? []) {
          for (const d of pods) expect(portNumber(containerOf(d), p.port)).toBeDefined();
        }
      }
    }
  });

  it('scrapes every service through the PodMonitor on its metrics port', () => {
    const monitor = of('PodMonitor')[0]!.spec as {
      selector: unknown;
      podMetricsEndpoints: Mapping[];
    };
    for (const d of deployments) {
      expect(selects(monitor.selector, d)).toBe(true);
      const c = containerOf(d);
      const hits = monitor.podMetricsEndpoints.filter(
        (e) => portNumber(c, e.port) === listenPort(d.metadata.name, envOf(c)),
      );
      expect({ name: d.metadata.name, endpoints: hits.length }).toEqual({
        name: d.metadata.name,
        endpoints: 1,
      });
    }
  });

  it('labels everything as part of herald', () => {
    for (const r of resources)
      expect(r.metadata.labels?.['app.kubernetes.io/part-of']).toBe('herald');
  });

  it('keeps configuration values the services accept', () => {
    // Loading fails on any invalid value, naming it (an overlay typo shows here).
    for (const service of SERVICES)
      listenPort(service, envOf(containerOf(find('Deployment', service)!)));
    for (const load of [loadEmailConfig, loadTelegramConfig, loadPushConfig, loadWebhookConfig])
      load(config);
  });
});

describe('the example overlay', () => {
  const resources = build(OVERLAY);
  const find = (kind: string, name: string) =>
    resources.find((r) => r.kind === kind && r.metadata.name === name)!;

  it('puts everything in its namespace and uses a tagged image from a registry', () => {
    for (const r of resources.filter((r) => r.kind !== 'Namespace')) {
      expect(r.metadata.namespace).toBe('herald');
    }
    const gateway = (podSpec(find('Deployment', 'gateway')).containers as Container[])[0]!;
    expect(gateway.image).toMatch(/^[^:]+\/herald:[\w.-]+$/);
  });

  it('serves the host that unsubscribe links point at', () => {
    const hosts = (find('Ingress', 'gateway').spec as { rules: { host: string }[] }).rules.map(
      (r) => r.host,
    );
    const publicUrl = (find('ConfigMap', 'herald-config').data as Record<string, string>)
      .PUBLIC_URL!;
    expect(hosts).toEqual([new URL(publicUrl).hostname]);
  });

  it.each(['README.md', 'k8s/README.md'])(
    '%s deletes the previous migration Job before applying the new one (its pod template is immutable)',
    (file) => {
      const job = resources.find((r) => r.kind === 'Job')!;
      const lines = readFileSync(path.join(ROOT, file), 'utf8').split('\n');
      const del = lines.findIndex((l) =>
        l.includes(
          `kubectl -n ${job.metadata.namespace} delete job ${job.metadata.name} --ignore-not-found`,
        ),
      );
      const apply = lines.findIndex((l) =>
        /kubectl apply -k \S+ -l app\.kubernetes\.io\/component=migration/.test(l),
      );
      expect({ del: del >= 0, apply: apply >= 0 }).toEqual({ del: true, apply: true });
      expect(del).toBeLessThan(apply);
    },
  );

  it('sets the replica count of what no autoscaler owns', () => {
    expect((find('Deployment', 'scheduler').spec as Mapping).replicas).toBe(2);
  });
});

// Reading pods out of workload manifests, as Kubernetes resolves them:
// label selectors and named container ports.
import { isMapping, type Mapping, type Resource } from './kustomize-lite';

interface HttpGet {
  path?: string;
  port?: number | string;
}

export interface Container {
  name: string;
  image?: string;
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string }[];
  envFrom?: Mapping[];
  readinessProbe?: { httpGet?: HttpGet };
  livenessProbe?: { httpGet?: HttpGet };
  startupProbe?: { httpGet?: HttpGet };
  lifecycle?: { preStop?: Mapping };
  resources?: Mapping;
  securityContext?: Mapping;
  volumeMounts?: { name: string; mountPath: string }[];
}

/** The pod spec of a Deployment or Job. */
export function podSpec(workload: Resource): Mapping {
  const template = (workload.spec as Mapping | undefined)?.template;
  if (!isMapping(template) || !isMapping(template.spec)) {
    throw new Error(`${workload.kind}/${workload.metadata.name} has no pod template`);
  }
  return template.spec;
}

function podLabels(workload: Resource): Record<string, string> {
  const template = (workload.spec as Mapping | undefined)?.template as Mapping | undefined;
  return ((template?.metadata as Mapping | undefined)?.labels ?? {}) as Record<string, string>;
}

/** Whether a LabelSelector ({matchLabels, matchExpressions}) selects a workload's pods. */
export function selects(selector: unknown, workload: Resource): boolean {
  if (!isMapping(selector)) return false;
  const labels = podLabels(workload);
  const matchLabels = (selector.matchLabels ?? {}) as Record<string, string>;
  if (!Object.entries(matchLabels).every(([k, v]) => labels[k] === v)) return false;
  const expressions = (selector.matchExpressions ?? []) as {
    key: string;
    operator: string;
    values?: string[];
  }[];
  return expressions.every(({ key, operator, values = [] }) => {
    const value = labels[key];
    if (operator === 'In') return value !== undefined && values.includes(value);
    if (operator === 'NotIn') return value === undefined || !values.includes(value);
    if (operator === 'Exists') return value !== undefined;
    if (operator === 'DoesNotExist') return value === undefined;
    throw new Error(`unknown selector operator ${operator}`);
  });
}

/** A port as a probe, Service or policy names it: a number, or a container port's name. */
export function portNumber(container: Container, port: unknown): number | undefined {
  if (typeof port === 'number') return port;
  if (typeof port === 'string' && /^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

export interface IngressPath {
  path: string;
  pathType?: string;
  backend: { service: { name: string; port: { name?: string; number?: number } } };
}

/** Every path of every rule of an Ingress. */
export function ingressPaths(ingress: Resource): IngressPath[] {
  const rules = ((ingress.spec as Mapping | undefined)?.rules ?? []) as {
    http?: { paths?: IngressPath[] };
  }[];
  return rules.flatMap((rule) => rule.http?.paths ?? []);
}

/**
 * Writes k8s/base/keda-scaledobjects.yaml: one KEDA ScaledObject per channel
 * worker, with one `redis` trigger per lane queue on the list BullMQ pushes
 * waiting jobs to, plus the TriggerAuthentication they share.
 *
 * Queue names come from @herald/core's topology (CHANNELS, laneQueues) and the
 * key shape from BullMQ's own QueueKeys, so the manifests cannot drift from
 * the code: tests/k8s.test.ts regenerates the file in memory and compares, and
 * tests/k8s.int.test.ts checks the key against a live queue in Redis.
 *
 *   pnpm k8s:keda                                   # rewrite the committed file
 *   pnpm k8s:keda --prefix '{acme}' --out -         # another QUEUE_PREFIX, to stdout
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { QueueKeys } from 'bullmq';
import { Document } from 'yaml';
import { CHANNELS, DEFAULT_QUEUE_PREFIX, laneQueues, type Channel, type Lane } from '@herald/core';

export const KEDA_OUTPUT = path.join(__dirname, 'base', 'keda-scaledobjects.yaml');

/** The TriggerAuthentication every trigger uses; it reads herald-secrets (secret.example.yaml). */
export const KEDA_TRIGGER_AUTH = 'herald-keda-redis';

/**
 * Replicas per worker, and the waiting jobs per replica each lane aims for
 * (KEDA's listLength: replicas = ceil(LLEN / listLength), the larger lane wins).
 *
 * minReplicaCount stays at 1, never 0: retries wait in BullMQ's `delayed`
 * set, which this list scaler cannot see, and only a running worker promotes
 * them (BullMQ 6 has no QueueScheduler). Scaled to zero, retries would stall.
 *
 * Transactional targets are low (about one round of the default per-lane
 * concurrency) so a burst adds replicas quickly; campaign fan-out is windowed
 * by CAMPAIGN_WINDOW_JOBS (400 jobs per channel), so its target bounds how
 * many replicas a campaign alone may claim.
 */
const SCALING: Record<
  Channel,
  { min: number; max: number; listLength: Record<Lane, number>; note: string }
> = {
  email: {
    min: 1,
    max: 10,
    listLength: { transactional: 20, campaign: 100 },
    note: 'SMTP relays take parallel connections well.',
  },
  telegram: {
    min: 1,
    max: 3,
    listLength: { transactional: 30, campaign: 200 },
    note: 'TELEGRAM_RATE_PER_SECOND caps the fleet (Bot API limits): replicas add no speed.',
  },
  push: {
    min: 1,
    max: 10,
    listLength: { transactional: 50, campaign: 100 },
    note: 'Push services answer quickly; scale with the backlog.',
  },
  webhook: {
    min: 1,
    max: 10,
    listLength: { transactional: 50, campaign: 100 },
    note: 'Receivers vary; WEBHOOK_CONCURRENCY bounds the load one replica puts on them.',
  },
};

/** The Redis list BullMQ pushes a queue's waiting jobs to: `<prefix>:<queue>:wait`. */
export function waitListKey(prefix: string, queue: string): string {
  return new QueueKeys(prefix).toKey(queue, 'wait');
}

export const workerDeploymentName = (channel: Channel) => `worker-${channel}`;

const labels = (name: string, component: string) => ({
  'app.kubernetes.io/name': name,
  'app.kubernetes.io/component': component,
  'app.kubernetes.io/part-of': 'herald',
});

interface Manifest {
  comment: string;
  resource: Record<string, unknown>;
}

function triggerAuthentication(): Manifest {
  return {
    comment: [
      ' Connection for the KEDA operator (it polls Redis itself, outside the pods).',
      ' REDIS_ADDRESS is host:port (KEDA does not take a redis:// URL) and',
      ' REDIS_PASSWORD may be empty; both live in herald-secrets next to REDIS_URL.',
      ' For TLS (rediss://) add `- parameter: tls` with value `enable` (see KEDA docs).',
    ].join('\n'),
    resource: {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'TriggerAuthentication',
      metadata: { name: KEDA_TRIGGER_AUTH, labels: labels('herald-keda', 'autoscaling') },
      spec: {
        secretTargetRef: [
          { parameter: 'address', name: 'herald-secrets', key: 'REDIS_ADDRESS' },
          { parameter: 'password', name: 'herald-secrets', key: 'REDIS_PASSWORD' },
        ],
      },
    },
  };
}

function scaledObject(channel: Channel, prefix: string): Manifest {
  const scaling = SCALING[channel];
  const name = workerDeploymentName(channel);
  return {
    comment: ` ${name}: ${scaling.note}`,
    resource: {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name, labels: labels(name, 'worker') },
      spec: {
        scaleTargetRef: { name },
        minReplicaCount: scaling.min,
        maxReplicaCount: scaling.max,
        pollingInterval: 15,
        // Scale down slowly: a drained backlog often refills (campaign windows).
        // (cooldownPeriod only applies to scaling to zero, which we never do.)
        advanced: {
          horizontalPodAutoscalerConfig: {
            behavior: { scaleDown: { stabilizationWindowSeconds: 300 } },
          },
        },
        triggers: laneQueues(channel).map((queue) => ({
          type: 'redis',
          metadata: {
            listName: waitListKey(prefix, queue.name),
            listLength: String(scaling.listLength[queue.lane]),
          },
          authenticationRef: { name: KEDA_TRIGGER_AUTH },
        })),
      },
    },
  };
}

/** Every KEDA resource for one QUEUE_PREFIX, as plain objects (the tests read these). */
export function kedaResources(prefix: string = DEFAULT_QUEUE_PREFIX): Record<string, unknown>[] {
  return [triggerAuthentication(), ...CHANNELS.map((c) => scaledObject(c, prefix))].map(
    (m) => m.resource,
  );
}

/** The file's text: stable, already in the repository's prettier style. */
export function renderKedaManifests(prefix: string = DEFAULT_QUEUE_PREFIX): string {
  const header = [
    '# GENERATED by k8s/generate-keda.ts from the queue topology in @herald/core.',
    '# Do not edit: change the generator and run `pnpm k8s:keda`.',
    '#',
    `# QUEUE_PREFIX ${prefix}: one trigger per lane queue, on the list BullMQ keeps`,
    '# its waiting jobs in. Needs KEDA 2.x (keda.sh/v1alpha1) in the cluster.',
    '# A Redis Cluster needs `type: redis-cluster` triggers instead.',
  ].join('\n');
  const manifests = [triggerAuthentication(), ...CHANNELS.map((c) => scaledObject(c, prefix))];
  const documents = manifests.map(({ comment, resource }) => {
    const doc = new Document(resource);
    doc.commentBefore = comment;
    return doc.toString({ lineWidth: 0, singleQuote: true });
  });
  return `${header}\n---\n${documents.join('---\n')}`;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      prefix: { type: 'string', default: DEFAULT_QUEUE_PREFIX },
      out: { type: 'string', default: KEDA_OUTPUT },
    },
  });
  const text = renderKedaManifests(values.prefix);
  if (values.out === '-') {
    process.stdout.write(text);
    return;
  }
  writeFileSync(values.out, text);
  process.stderr.write(`wrote ${path.relative(process.cwd(), values.out)}\n`);
}

if (require.main === module) main();

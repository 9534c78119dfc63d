import { Counter, Gauge, Histogram, collectDefaultMetrics, Registry } from 'prom-client';

export const DELIVERY_OUTCOMES = [
  'sent',
  'failed',
  'retried',
  'dead',
  'cancelled',
  'skipped',
] as const;
export type DeliveryOutcomeLabel = (typeof DELIVERY_OUTCOMES)[number];

/**
 * The delivery metrics of SPEC §6, registered on a per-process registry
 * (never the global one, so tests can run several workers in one process).
 */
export interface DeliveryMetrics {
  registry: Registry;
  deliveries: DeliveriesCounter;
  providerDuration: Histogram<'channel'>;
  endToEnd: Histogram<'channel' | 'lane'>;
  circuitState: Gauge<'channel'>;
}

export function createRegistry(service: string, withDefaults = true): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (withDefaults) collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * herald_deliveries_total on its own: the workers count what became of each
 * delivery; the gateway and the scheduler count the deliveries they create
 * as `skipped` (no address, opted out, unreachable), which no worker sees.
 */
export function createDeliveriesCounter(registry: Registry): DeliveriesCounter {
  return new Counter({
    name: 'herald_deliveries_total',
    help: 'Delivery outcomes by channel and lane.',
    labelNames: ['channel', 'lane', 'outcome'],
    registers: [registry],
  });
}

export type DeliveriesCounter = Counter<'channel' | 'lane' | 'outcome'>;

/** Counts the deliveries among these that were created `skipped`. */
export function countSkippedDeliveries(
  counter: DeliveriesCounter,
  deliveries: Iterable<{ channel: string; lane: string; status: string }>,
): void {
  for (const d of deliveries) {
    if (d.status === 'skipped')
      counter.inc({ channel: d.channel, lane: d.lane, outcome: 'skipped' });
  }
}

export function createDeliveryMetrics(registry: Registry): DeliveryMetrics {
  return {
    registry,
    deliveries: createDeliveriesCounter(registry),
    providerDuration: new Histogram({
      name: 'herald_provider_duration_seconds',
      help: 'Time spent in the provider call (SMTP, HTTP) per attempt.',
      labelNames: ['channel'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    endToEnd: new Histogram({
      name: 'herald_end_to_end_seconds',
      help: 'From acceptance by the gateway to a successful send.',
      labelNames: ['channel', 'lane'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
      registers: [registry],
    }),
    circuitState: new Gauge({
      name: 'herald_circuit_state',
      help: 'Circuit breaker state per channel: 0 closed, 1 half-open, 2 open.',
      labelNames: ['channel'],
      registers: [registry],
    }),
  };
}

/** Gateway: notifications accepted (202) per lane. */
export function createAcceptedCounter(registry: Registry): Counter<'lane'> {
  return new Counter({
    name: 'herald_notifications_accepted_total',
    help: 'Notifications accepted by the gateway.',
    labelNames: ['lane'],
    registers: [registry],
  });
}

/**
 * Queue gauges, filled when Prometheus scrapes by the given collectors (each
 * service reports the queues it owns): depth per state, how long the oldest
 * waiting job has waited (queue lag, which depth alone cannot tell: a steady
 * count may be a healthy flow or a stuck lane), and dead letters.
 */
export function createQueueGauges(
  registry: Registry,
  collect: {
    collectQueues?: (gauge: Gauge<'queue' | 'state'>) => Promise<void>;
    collectQueueAge?: (gauge: Gauge<'queue'>) => Promise<void>;
    collectDlq?: (gauge: Gauge<'channel'>) => Promise<void>;
  } = {},
): {
  queueJobs: Gauge<'queue' | 'state'>;
  oldestJobAge: Gauge<'queue'>;
  dlqJobs: Gauge<'channel'>;
} {
  const queueJobs: Gauge<'queue' | 'state'> = new Gauge({
    name: 'herald_queue_jobs',
    help: 'Jobs per queue and state.',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      await collect.collectQueues?.(queueJobs);
    },
  });
  const oldestJobAge: Gauge<'queue'> = new Gauge({
    name: 'herald_queue_oldest_job_age_seconds',
    help: 'Seconds the oldest waiting job of a lane queue has been ready to run (0 when none waits).',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      await collect.collectQueueAge?.(oldestJobAge);
    },
  });
  const dlqJobs: Gauge<'channel'> = new Gauge({
    name: 'herald_dlq_jobs',
    help: 'Jobs in the dead-letter queue per channel.',
    labelNames: ['channel'],
    registers: [registry],
    async collect() {
      await collect.collectDlq?.(dlqJobs);
    },
  });
  return { queueJobs, oldestJobAge, dlqJobs };
}

import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { EXIT_CONFIG } from './exit-codes';
import type { Logger } from './logger';

/** A process asks the primary for every process's metrics added up (its GET /metrics). */
const METRICS_REQUEST = 'herald:cluster-metrics-request';
const METRICS_RESPONSE = 'herald:cluster-metrics-response';
/** A process can answer COLLECT from now on (sent before it listens). */
const COLLECTOR_READY = 'herald:metrics-collector-ready';
/** The primary asks one process for its own registry's metrics. */
const COLLECT_REQUEST = 'herald:metrics-collect';
const COLLECT_RESPONSE = 'herald:metrics-collected';

/** One process's registry, as prom-client serialises it for aggregation. */
type ProcessMetrics = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

interface MetricsRequest {
  type: typeof METRICS_REQUEST;
  id: number;
}

interface MetricsResponse {
  type: typeof METRICS_RESPONSE;
  id: number;
  text?: string;
  error?: string;
}

interface CollectRequest {
  type: typeof COLLECT_REQUEST;
  id: number;
}

interface CollectResponse {
  type: typeof COLLECT_RESPONSE;
  id: number;
  metrics?: ProcessMetrics;
  error?: string;
}

export interface SupervisorOptions {
  /** How many copies of the service to run. */
  processes: number;
  log: Logger;
  /** A process that exits sooner than this after its start counts as failing to start. */
  startupGraceMs?: number;
  /** Failed starts in a row after which the supervisor gives up and exits 1. */
  maxFailedStarts?: number;
  /** How long a scrape waits for each process's metrics. */
  collectTimeoutMs?: number;
}

/**
 * The primary of a service run as several processes (node:cluster) that share
 * its listening port: the kernel hands each new connection to one of them.
 * It runs no service code itself. It
 * - starts `processes` copies and replaces one that dies (a crash loop at
 *   start ends the primary, so the outer supervisor or orchestrator sees it);
 * - on SIGTERM/SIGINT passes SIGTERM on, waits for every copy to drain and
 *   exit, then exits;
 * - answers a copy's request for the metrics of all copies together
 *   (MetricsCollector), so /metrics reads the same whichever copy serves it.
 */
export function superviseProcesses(options: SupervisorOptions): void {
  const { processes, log } = options;
  const startupGraceMs = options.startupGraceMs ?? 10_000;
  const maxFailedStarts = options.maxFailedStarts ?? 5;
  const metrics = new MetricsCollector(options.collectTimeoutMs ?? 3000);
  const startedAt = new Map<number, number>();
  let failedStarts = 0;
  let stopping = false;
  let exitCode = 0;

  const start = (): void => {
    const worker = cluster.fork();
    startedAt.set(worker.id, Date.now());
  };

  const stop = (code: number): void => {
    exitCode = Math.max(exitCode, code);
    if (!stopping) {
      stopping = true;
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    }
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(exitCode);
  };

  cluster.on('message', (worker: Worker, message: unknown) => {
    if (isMessage(message, COLLECTOR_READY)) metrics.add(worker);
    else if (isMessage<CollectResponse>(message, COLLECT_RESPONSE)) metrics.settle(message);
    else if (isMessage<MetricsRequest>(message, METRICS_REQUEST)) {
      const reply = (body: Omit<MetricsResponse, 'type' | 'id'>) => {
        if (worker.isConnected()) worker.send({ type: METRICS_RESPONSE, id: message.id, ...body });
      };
      metrics.collect().then(
        (text) => reply({ text }),
        (err: Error) => reply({ error: err.message }),
      );
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    metrics.remove(worker);
    const lived = Date.now() - (startedAt.get(worker.id) ?? 0);
    startedAt.delete(worker.id);
    if (stopping) {
      if (code !== 0 && code !== null) exitCode = Math.max(exitCode, code);
      stop(exitCode);
      return;
    }
    const facts = { worker: worker.id, pid: worker.process.pid, code, signal, livedMs: lived };
    if (code === EXIT_CONFIG) {
      log.fatal(facts, 'a process stopped on its configuration; stopping all');
      stop(EXIT_CONFIG);
      return;
    }
    failedStarts = lived < startupGraceMs ? failedStarts + 1 : 0;
    if (failedStarts >= maxFailedStarts) {
      log.fatal({ ...facts, failedStarts }, 'processes keep failing at start; stopping all');
      stop(1);
      return;
    }
    const delayMs = failedStarts === 0 ? 0 : Math.min(100 * 2 ** failedStarts, 5000);
    log.error({ ...facts, restartInMs: delayMs }, 'a process exited; starting another');
    setTimeout(() => {
      if (!stopping) start();
    }, delayMs);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log.info({ signal }, 'shutting down every process');
      process.once(signal, () => process.exit(1));
      stop(0);
    });
  }

  for (let i = 0; i < processes; i++) start();
  log.info({ processes }, 'processes started');
}

/**
 * The primary's side of /metrics across processes. It asks only processes that
 * said they can answer: prom-client's AggregatorRegistry.clusterMetrics() asks
 * every process, and one still starting (a replacement) never answers, so
 * every scrape during a restart waited 5 s and failed. Its own
 * AggregatorRegistry.aggregate() adds the answers up.
 */
class MetricsCollector {
  private readonly collectors = new Set<Worker>();
  /** Each process's last answer: what it counted, should it die before the next scrape. */
  private readonly lastSeen = new Map<Worker, ProcessMetrics>();
  /**
   * What processes that died had counted, added up (counters and histograms
   * only): kept in every sum after them, so a restart never makes a counter
   * go down, which Prometheus would read as a reset and a burst of increase.
   * A chain, so that a scrape sees every death before it.
   */
  private retired: Promise<ProcessMetrics | undefined> = Promise.resolve(undefined);
  private readonly pending = new Map<
    number,
    { worker: Worker; settle: (metrics: ProcessMetrics | Error | undefined) => void }
  >();
  private nextId = 0;

  constructor(private readonly timeoutMs: number) {}

  add(worker: Worker): void {
    this.collectors.add(worker);
  }

  /**
   * A process that exits is asked no more, and its answers still awaited are
   * dropped; what it counted up to its last answer stays in the sums.
   */
  remove(worker: Worker): void {
    this.collectors.delete(worker);
    for (const { worker: asked, settle } of this.pending.values())
      if (asked === worker) settle(undefined);
    const last = this.lastSeen.get(worker);
    this.lastSeen.delete(worker);
    if (!last) return;
    const counted = last.filter((m) => ['counter', 'histogram'].includes(String(m.type)));
    this.retired = this.retired.then(async (before) => {
      try {
        return await AggregatorRegistry.aggregate(
          before ? [before, counted] : [counted],
        ).getMetricsAsJSON();
      } catch {
        return before;
      }
    });
  }

  settle(response: CollectResponse): void {
    this.pending
      .get(response.id)
      ?.settle(response.metrics ?? new Error(response.error ?? 'no metrics'));
  }

  async collect(): Promise<string> {
    const asked = [...this.collectors].filter((w) => w.isConnected());
    const answers = await Promise.all(asked.map((w) => this.ask(w)));
    answers.forEach((answer, i) => {
      if (answer && this.collectors.has(asked[i]!)) this.lastSeen.set(asked[i]!, answer);
    });
    const present = answers.filter((a): a is ProcessMetrics => a !== undefined);
    const retired = await this.retired;
    return AggregatorRegistry.aggregate(retired ? [...present, retired] : present).metrics();
  }

  private ask(worker: Worker): Promise<ProcessMetrics | undefined> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => settle(new Error(`process ${worker.id} did not answer with its metrics in time`)),
        this.timeoutMs,
      );
      const settle = (metrics: ProcessMetrics | Error | undefined) => {
        clearTimeout(timer);
        this.pending.delete(id);
        if (metrics instanceof Error) reject(metrics);
        else resolve(metrics);
      };
      this.pending.set(id, { worker, settle });
      worker.send({ type: COLLECT_REQUEST, id } satisfies CollectRequest);
    });
  }
}

/**
 * What GET /metrics serves: this process's registry, or, in a copy run by
 * superviseProcesses, every copy's metrics added up by the primary.
 */
export function metricsSource(registry: Registry, timeoutMs = 10_000): () => Promise<string> {
  if (!cluster.isWorker) return () => registry.metrics();
  const waiting = new Map<number, (response: MetricsResponse) => void>();
  let nextId = 0;
  process.on('message', (message: unknown) => {
    if (isMessage<MetricsResponse>(message, METRICS_RESPONSE)) waiting.get(message.id)?.(message);
    else if (isMessage<CollectRequest>(message, COLLECT_REQUEST)) {
      const reply = (body: Omit<CollectResponse, 'type' | 'id'>) => {
        if (process.connected) process.send!({ type: COLLECT_RESPONSE, id: message.id, ...body });
      };
      registry.getMetricsAsJSON().then(
        (metrics) => reply({ metrics }),
        (err: Error) => reply({ error: err.message }),
      );
    }
  });
  process.send!({ type: COLLECTOR_READY });
  return () =>
    new Promise<string>((resolve, reject) => {
      if (!process.connected) {
        reject(new Error('the primary process is gone'));
        return;
      }
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('the primary did not answer with the metrics in time'));
      }, timeoutMs);
      waiting.set(id, (response) => {
        clearTimeout(timer);
        waiting.delete(id);
        if (response.text !== undefined) resolve(response.text);
        else reject(new Error(response.error ?? 'no metrics'));
      });
      process.send!({ type: METRICS_REQUEST, id } satisfies MetricsRequest);
    });
}

function isMessage<T extends { type: string }>(message: unknown, type: T['type']): message is T {
  return typeof message === 'object' && message !== null && (message as T).type === type;
}

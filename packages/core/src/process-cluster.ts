import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { EXIT_CONFIG } from './exit-codes';
import type { Logger } from './logger';

const METRICS_REQUEST = 'herald:cluster-metrics-request';
const METRICS_RESPONSE = 'herald:cluster-metrics-response';

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

export interface SupervisorOptions {
  /** How many copies of the service to run. */
  processes: number;
  log: Logger;
  /** A process that exits sooner than this after its start counts as failing to start. */
  startupGraceMs?: number;
  /** Failed starts in a row after which the supervisor gives up and exits 1. */
  maxFailedStarts?: number;
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
 *   (prom-client's AggregatorRegistry), so /metrics reads the same whichever
 *   copy serves it.
 */
export function superviseProcesses(options: SupervisorOptions): void {
  const { processes, log } = options;
  const startupGraceMs = options.startupGraceMs ?? 10_000;
  const maxFailedStarts = options.maxFailedStarts ?? 5;
  const aggregator = new AggregatorRegistry();
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
    if (!isMessage<MetricsRequest>(message, METRICS_REQUEST)) return;
    const reply = (body: Omit<MetricsResponse, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: METRICS_RESPONSE, id: message.id, ...body });
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (err: Error) => reply({ error: err.message }),
    );
  });

  cluster.on('exit', (worker, code, signal) => {
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
 * What GET /metrics serves: this process's registry, or, in a copy run by
 * superviseProcesses, every copy's metrics added up by the primary.
 */
export function metricsSource(registry: Registry, timeoutMs = 10_000): () => Promise<string> {
  if (!cluster.isWorker) return () => registry.metrics();
  // The primary collects from this registry; constructing an
  // AggregatorRegistry is what installs prom-client's listener that answers it.
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry();
  const waiting = new Map<number, (response: MetricsResponse) => void>();
  let nextId = 0;
  process.on('message', (message: unknown) => {
    if (isMessage<MetricsResponse>(message, METRICS_RESPONSE)) waiting.get(message.id)?.(message);
  });
  return () =>
    new Promise<string>((resolve, reject) => {
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

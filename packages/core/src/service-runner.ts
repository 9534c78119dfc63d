import cluster from 'node:cluster';
import { ConfigError } from './config/env';
import { EXIT_CONFIG } from './exit-codes';
import { createLogger, type Logger } from './logger';
import { superviseProcesses } from './process-cluster';
import { ResourceStack } from './resource-stack';

export { EXIT_CONFIG } from './exit-codes';

export interface ServiceContext {
  log: Logger;
  stack: ResourceStack;
}

export interface RunServiceOptions<C> {
  /**
   * How many processes run the service, sharing its port (node:cluster);
   * 1, the default, runs it in this process.
   */
  processes?: (config: C) => number;
}

/**
 * The skeleton every service's main.ts shares: parse config (a bad value
 * stops the service at once, naming the variable), then wire resources on a
 * stack released in reverse on SIGTERM/SIGINT. An uncaught error is logged
 * and ends the process, so the supervisor restarts it from a clean state.
 * With several processes this one only supervises them (superviseProcesses),
 * after checking the configuration once for all.
 */
export function runService<C extends { logLevel: string }>(
  name: string,
  loadConfig: () => C,
  main: (config: C, ctx: ServiceContext) => Promise<void>,
  options: RunServiceOptions<C> = {},
): void {
  let config: C;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }
  const processes = options.processes?.(config) ?? 1;
  if (processes > 1 && cluster.isPrimary) {
    superviseProcesses({ processes, log: createLogger(name, config.logLevel) });
    return;
  }
  const base = createLogger(name, config.logLevel);
  const log = cluster.isWorker ? base.child({ worker: cluster.worker!.id }) : base;
  const stack = new ResourceStack(log);
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled rejection');
    process.exit(1);
  });
  stack.closeOn(['SIGTERM', 'SIGINT']);
  if (cluster.isWorker) drainWhenPrimaryIsLost(stack, log);
  main(config, { log, stack }).catch(async (err: unknown) => {
    log.fatal({ err }, 'failed to start');
    await stack.close();
    process.exit(1);
  });
}

/**
 * node:cluster ends a process the moment its primary goes (killed, OOM):
 * requests in flight would be cut off unanswered, accepted or not. Without
 * its primary no new connection reaches the process, so it drains as on
 * SIGTERM (answers what it holds, flushes its writes) and exits.
 */
function drainWhenPrimaryIsLost(stack: ResourceStack, log: Logger): void {
  // Node's own listener is the one that exits at once; it is the only one at this point.
  process.removeAllListeners('disconnect');
  process.once('disconnect', () => {
    log.warn('the primary process is gone; draining, then exiting');
    void stack.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

import { ConfigError } from './config/env';
import { createLogger, type Logger } from './logger';
import { ResourceStack } from './resource-stack';

/** Exit code for invalid configuration (sysexits EX_CONFIG): the supervisor does not restart it. */
export const EXIT_CONFIG = 78;

export interface ServiceContext {
  log: Logger;
  stack: ResourceStack;
}

/**
 * The skeleton every service's main.ts shares: parse config (a bad value
 * stops the service at once, naming the variable), then wire resources on a
 * stack released in reverse on SIGTERM/SIGINT. An uncaught error is logged
 * and ends the process, so the supervisor restarts it from a clean state.
 */
export function runService<C extends { logLevel: string }>(
  name: string,
  loadConfig: () => C,
  main: (config: C, ctx: ServiceContext) => Promise<void>,
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
  const log = createLogger(name, config.logLevel);
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
  main(config, { log, stack }).catch(async (err: unknown) => {
    log.fatal({ err }, 'failed to start');
    await stack.close();
    process.exit(1);
  });
}

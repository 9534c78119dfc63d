import { randomUUID } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { Logger } from '@herald/core';

const REQUEST_ID = /^[\w.-]{1,100}$/;
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** The logger of this request: carries its request id. */
export function requestLogOf(res: Response): Logger {
  return res.locals.log as Logger;
}

/**
 * A request id for every request (X-Request-Id, echoed or generated), a child
 * logger carrying it, and one JSON line when the response is done: at `info`
 * for client errors, `error` for server errors and `debug` for the rest, so
 * a busy gateway does not pay for a log line per accepted notification unless
 * LOG_LEVEL=debug asks for access logs.
 */
export function requestLog(log: Logger): RequestHandler {
  const accessLogs = log.isLevelEnabled('debug');
  return (req, res, next) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', id);
    let child: Logger | undefined;
    Object.defineProperty(res.locals, 'log', {
      get: () => (child ??= log.child({ reqId: id })),
      configurable: true,
    });
    const started = performance.now();
    res.once('finish', () => {
      const status = res.statusCode;
      if (status < 400 && (!accessLogs || QUIET_PATHS.has(req.path))) return;
      const level = status >= 500 ? 'error' : status >= 400 ? 'info' : 'debug';
      requestLogOf(res)[level](
        {
          req: { method: req.method, url: req.originalUrl },
          res: { statusCode: status },
          responseTime: Math.round(performance.now() - started),
        },
        'request completed',
      );
    });
    next();
  };
}

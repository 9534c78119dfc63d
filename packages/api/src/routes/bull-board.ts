import { timingSafeEqual } from 'node:crypto';
import type { RequestHandler, Router } from 'express';
import type { Queue } from 'bullmq';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';

export const BULL_BOARD_PATH = '/admin/queues';

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** HTTP Basic auth for the dashboard (its UI cannot send bearer tokens). */
export function basicAuth(credentials: { user: string; password: string }): RequestHandler {
  return (req, res, next) => {
    const header = req.headers.authorization ?? '';
    const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
    const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    if (
      colon > 0 &&
      same(decoded.slice(0, colon), credentials.user) &&
      same(decoded.slice(colon + 1), credentials.password)
    ) {
      return next();
    }
    res.setHeader('WWW-Authenticate', 'Basic realm="herald-admin", charset="UTF-8"');
    res.status(401).type('application/problem+json').send({
      type: 'https://herald.dev/problems/unauthorized',
      title: 'Unauthorized',
      status: 401,
      detail: 'The dashboard needs the operator credentials (ADMIN_USER / ADMIN_PASSWORD).',
    });
  };
}

/** Bull Board over every lane queue and dead-letter queue, read-write for operators. */
export function bullBoardRouter(queues: Queue[]): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Herald queues' } },
  });
  return serverAdapter.getRouter() as Router;
}

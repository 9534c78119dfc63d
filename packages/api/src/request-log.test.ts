import express from 'express';
import { captureLog } from '@herald/testkit';
import request from 'supertest';
import { requestLog, requestLogOf } from './request-log';

/** An app whose log lines land in `lines`, with routes answering each kind of status. */
function appLoggingTo(level: string) {
  const { log, lines } = captureLog(level);
  const app = express();
  app.use(requestLog(log));
  app.get('/ok', (_req, res) => res.json({ ok: true }));
  app.get('/healthz', (_req, res) => res.json({ ok: true }));
  app.get('/missing', (_req, res) => res.status(404).json({}));
  app.get('/broken', (_req, res) => res.status(500).json({}));
  app.get('/readyz', (_req, res) => res.status(503).json({ status: 'unavailable' }));
  app.get('/metrics', (_req, res) => res.status(500).send('registry failed'));
  app.get('/noted', (_req, res) => {
    requestLogOf(res).warn({ detail: 1 }, 'something worth noting');
    res.json({});
  });
  /** The lines once there are `count` of them: a response's log line is written on 'finish', which may trail the client's read. */
  async function logged(count: number): Promise<Record<string, unknown>[]> {
    const deadline = Date.now() + 5000;
    while (lines.length < count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return lines;
  }
  return { app, lines, logged };
}

describe('requestLog', () => {
  it('echoes a well-formed X-Request-Id and generates one otherwise', async () => {
    const { app } = appLoggingTo('info');
    const echoed = await request(app).get('/ok').set('X-Request-Id', 'order-42.retry_1');
    expect(echoed.headers['x-request-id']).toBe('order-42.retry_1');
    const replaced = await request(app).get('/ok').set('X-Request-Id', 'no spaces <allowed>');
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const generated = await request(app).get('/ok');
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(generated.headers['x-request-id']).not.toBe(replaced.headers['x-request-id']);
  });

  it('logs client errors at info and server errors at error, with the request id and timing', async () => {
    const { app, logged } = appLoggingTo('info');
    await request(app).get('/ok').expect(200);
    await request(app).get('/missing').set('X-Request-Id', 'r-404').expect(404);
    await request(app).get('/broken').set('X-Request-Id', 'r-500').expect(500);
    expect(await logged(2)).toEqual([
      expect.objectContaining({
        level: 30,
        reqId: 'r-404',
        req: { method: 'GET', url: '/missing' },
        res: { statusCode: 404 },
        responseTime: expect.any(Number),
        msg: 'request completed',
      }),
      expect.objectContaining({ level: 50, reqId: 'r-500', res: { statusCode: 500 } }),
    ]);
  });

  it('writes access logs for successes only at debug, and never for probes', async () => {
    const { app, lines, logged } = appLoggingTo('debug');
    await request(app).get('/healthz').expect(200);
    await request(app).get('/ok?x=1').set('X-Request-Id', 'r-ok').expect(200);
    await request(app).get('/missing').set('X-Request-Id', 'r-404').expect(404);
    // The probe came first: had it been logged, it would be among the first two lines.
    await logged(2);
    expect(lines).toEqual([
      expect.objectContaining({ level: 20, reqId: 'r-ok', req: { method: 'GET', url: '/ok?x=1' } }),
      expect.objectContaining({ level: 30, reqId: 'r-404' }),
    ]);
  });

  it("leaves a readiness probe's 503 to the health route, but logs a probe's real failure", async () => {
    const { app, lines, logged } = appLoggingTo('info');
    await request(app).get('/readyz').expect(503);
    await request(app).get('/metrics').set('X-Request-Id', 'r-metrics').expect(500);
    await logged(1);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 50,
        reqId: 'r-metrics',
        req: { method: 'GET', url: '/metrics' },
      }),
    ]);
  });

  it("gives handlers a logger carrying the request's id", async () => {
    const { app, lines } = appLoggingTo('info');
    await request(app).get('/noted').set('X-Request-Id', 'r-noted').expect(200);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        reqId: 'r-noted',
        detail: 1,
        msg: 'something worth noting',
      }),
    ]);
  });

  it('keeps each request its own id under concurrency', async () => {
    const { app, logged } = appLoggingTo('info');
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        request(app).get('/missing').set('X-Request-Id', `c-${i}`).expect(404),
      ),
    );
    expect((await logged(20)).map((l) => l.reqId).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `c-${i}`).sort(),
    );
  });
});

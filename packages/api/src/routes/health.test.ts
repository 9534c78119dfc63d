import express from 'express';
import { captureLog } from '@herald/testkit';
import { Registry } from 'prom-client';
import request from 'supertest';
import { healthRoutes } from './health';

describe('healthRoutes', () => {
  it('logs readiness when it changes, with the failing checks, not on every probe', async () => {
    const { log, lines } = captureLog();
    let redisUp = false;
    const app = express();
    app.use(
      healthRoutes({
        registry: new Registry(),
        checks: {
          postgres: async () => {},
          redis: async () => {
            if (!redisUp) throw new Error('connection refused');
          },
        },
        log,
      }),
    );
    const probe = (status: number) => request(app).get('/readyz').expect(status);

    await probe(503);
    await probe(503);
    redisUp = true;
    await probe(200);
    await probe(200);
    redisUp = false;
    const down = await probe(503);
    expect(down.body).toEqual({
      status: 'unavailable',
      checks: { postgres: 'ok', redis: 'connection refused' },
    });

    // Logged synchronously in the handler, before each answer.
    expect(lines.map((l) => [l.level, l.msg, l.checks])).toEqual([
      [40, 'not ready', { postgres: 'ok', redis: 'connection refused' }],
      [30, 'ready', { postgres: 'ok', redis: 'ok' }],
      [40, 'not ready', { postgres: 'ok', redis: 'connection refused' }],
    ]);
  });
});

import { captureLog } from '@herald/testkit';
import { Registry } from 'prom-client';
import { startOpsServer, type OpsServer } from './ops-server';

describe('startOpsServer /readyz', () => {
  let ops: OpsServer;
  afterEach(() => ops?.close());

  it('answers with each check and logs readiness when it changes, not on every probe', async () => {
    const { log, lines } = captureLog();
    let postgresUp = false;
    ops = await startOpsServer({
      port: 0,
      host: '127.0.0.1',
      registry: new Registry(),
      checks: {
        redis: async () => {},
        postgres: async () => {
          if (!postgresUp) throw new Error('connection refused');
        },
      },
      log,
    });
    const probe = async (status: number) => {
      const res = await fetch(`http://127.0.0.1:${ops.port}/readyz`);
      expect(res.status).toBe(status);
      return res.json();
    };

    expect(await probe(503)).toEqual({
      status: 'unavailable',
      checks: { redis: 'ok', postgres: 'connection refused' },
    });
    await probe(503);
    postgresUp = true;
    expect(await probe(200)).toEqual({ status: 'ok', checks: { redis: 'ok', postgres: 'ok' } });
    await probe(200);

    // Logged before each answer is written.
    expect(lines.map((l) => [l.level, l.msg, l.checks])).toEqual([
      [40, 'not ready', { redis: 'ok', postgres: 'connection refused' }],
      [30, 'ready', { redis: 'ok', postgres: 'ok' }],
    ]);
  });
});

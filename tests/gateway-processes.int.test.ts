// GATEWAY_PROCESSES=2: the gateway service (services/gateway/src/main.ts, as
// `pnpm start` runs it) as a primary and two processes sharing one port,
// against the real Redis and Postgres. Each request below goes out on a
// connection of its own, so the primary spreads them over both processes.
import net, { type AddressInfo } from 'node:net';
import {
  createTestDatabase,
  deleteKeysWithPrefix,
  uniqueQueuePrefix,
  waitFor,
  type ServiceProcess,
  type TestDatabase,
} from '@herald/testkit';
import {
  alive,
  call,
  childPids,
  logLines,
  notification,
  spawnGateway,
} from './support/gateway-process';

function acceptedTotal(exposition: string): number {
  const line = exposition
    .split('\n')
    .find((l) => /^herald_notifications_accepted_total\{[^}]*lane="transactional"/.test(l));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('GATEWAY_PROCESSES=2: the gateway as two processes sharing its port', () => {
  const prefix = uniqueQueuePrefix();
  let testDb: TestDatabase;
  let gateway: ServiceProcess;
  let port: number;

  /** The workers that have logged 'gateway listening', by cluster worker id. */
  const listening = () =>
    new Map(
      logLines(gateway)
        .filter((l) => l.msg === 'gateway listening' && l.worker !== undefined)
        .map((l) => [l.worker!, l.port!] as const),
    );

  beforeAll(async () => {
    testDb = await createTestDatabase();
    gateway = spawnGateway({
      DATABASE_URL: testDb.url,
      QUEUE_PREFIX: prefix,
      GATEWAY_PROCESSES: '2',
    });
    const ports = await waitFor(
      () => {
        if (gateway.child.exitCode !== null) throw new Error(`exited:\n${gateway.output()}`);
        const seen = listening();
        return seen.size === 2 ? [...seen.values()] : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 100, what: 'two gateway processes listening' },
    );
    // Port 0: the primary picks one port and both processes share it.
    expect(new Set(ports).size).toBe(1);
    port = ports[0]!;
  }, 120_000);

  afterAll(async () => {
    if (gateway) {
      gateway.kill('SIGKILL');
      await gateway.exited;
    }
    await deleteKeysWithPrefix(prefix);
    await testDb?.drop();
  });

  it('both serve the API, and /metrics counts what every process accepted, whichever answers', async () => {
    expect(logLines(gateway).find((l) => l.msg === 'processes started')).toMatchObject({
      processes: 2,
    });
    expect(childPids(gateway.child.pid!)).toHaveLength(2);
    const sends = 12;
    const ids: string[] = [];
    for (let i = 0; i < sends; i++) {
      const res = await call(port, 'POST', '/v1/notifications', notification(i));
      expect(res.status).toBe(202);
      ids.push((JSON.parse(res.text) as { id: string }).id);
    }
    for (const id of ids) {
      expect((await call(port, 'GET', `/v1/notifications/${id}`)).status).toBe(200);
    }
    // Four scrapes on fresh connections land on both processes; each must see
    // all sends (a process's own registry alone holds about half of them).
    for (let i = 0; i < 4; i++) {
      const res = await call(port, 'GET', '/metrics');
      expect(res.status).toBe(200);
      expect(acceptedTotal(res.text)).toBe(sends);
      // One process's metric, not one per process: aggregated, not concatenated.
      expect(res.text.match(/^nodejs_version_info\{/gm)).toHaveLength(1);
    }
  });

  it('a process that dies is replaced, and the other serves meanwhile', async () => {
    const [victim, survivor] = childPids(gateway.child.pid!);
    process.kill(victim!, 'SIGKILL');
    await waitFor(() => !alive(victim!), { what: 'the killed process gone' });
    // Served by the survivor while the replacement starts.
    for (let i = 0; i < 4; i++) {
      expect((await call(port, 'POST', '/v1/notifications', notification(100 + i))).status).toBe(
        202,
      );
    }
    const exited = await waitFor(
      () => logLines(gateway).find((l) => l.msg === 'a process exited; starting another'),
      { what: 'the primary to log the exit' },
    );
    expect(exited).toMatchObject({ pid: victim, signal: 'SIGKILL' });
    // While the replacement is still starting, a scrape is answered by the
    // processes that can answer, at once: it does not wait on the newcomer.
    await waitFor(() => childPids(gateway.child.pid!).some((pid) => pid !== survivor), {
      intervalMs: 20,
      what: 'the replacement process started',
    });
    expect(listening().has(3)).toBe(false);
    const duringRestart = await call(port, 'GET', '/metrics');
    expect(duringRestart.status).toBe(200);
    // The 12 sends before (the killed process's part as of the last scrape stays
    // in the sum: a counter never goes down) and the 4 since.
    expect(acceptedTotal(duringRestart.text)).toBe(16);
    await waitFor(() => listening().has(3), {
      timeoutMs: 60_000,
      what: 'a third process listening in place of the killed one',
    });
    const now = childPids(gateway.child.pid!);
    expect(now).toHaveLength(2);
    expect(now).toContain(survivor);
    expect(now).not.toContain(victim);
    const metrics = await call(port, 'GET', '/metrics');
    // The replacement starts from zero; the killed process's count stays in the sum.
    expect(acceptedTotal(metrics.text)).toBe(16);
  }, 90_000);

  it('SIGTERM drains every process, and the primary exits 0 after them', async () => {
    const workers = childPids(gateway.child.pid!);
    expect(workers).toHaveLength(2);
    gateway.kill('SIGTERM');
    const { code } = await gateway.exited;
    expect(code).toBe(0);
    for (const pid of workers) expect(alive(pid)).toBe(false);
    const lines = logLines(gateway);
    expect(lines.filter((l) => l.msg === 'shutting down' && l.worker !== undefined)).toHaveLength(
      2,
    );
    expect(lines.some((l) => l.msg === 'shutting down every process')).toBe(true);
  }, 60_000);
});

describe('GATEWAY_PROCESSES=2 when its processes cannot start', () => {
  it('gives up after five failed starts in a row and exits 1, naming the failure', async () => {
    // Another server holds the port: every gateway process fails to listen.
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, resolve));
    const testDb = await createTestDatabase();
    try {
      const gateway = spawnGateway({
        DATABASE_URL: testDb.url,
        PORT: String((holder.address() as AddressInfo).port),
        GATEWAY_PROCESSES: '2',
      });
      const { code } = await gateway.exited;
      expect(code).toBe(1);
      const lines = logLines(gateway);
      expect(lines.filter((l) => l.msg === 'failed to start').length).toBeGreaterThanOrEqual(5);
      // Four restarts between five failed starts (more if a start took over 10 s to fail).
      expect(
        lines.filter((l) => l.msg === 'a process exited; starting another').length,
      ).toBeGreaterThanOrEqual(4);
      expect(
        lines.find((l) => l.msg === 'processes keep failing at start; stopping all'),
      ).toMatchObject({ failedStarts: 5 });
    } finally {
      holder.close();
      await testDb.drop();
    }
  }, 90_000);
});

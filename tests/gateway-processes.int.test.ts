// GATEWAY_PROCESSES=2: the gateway service (services/gateway/src/main.ts, as
// `pnpm start` runs it) as a primary and two processes sharing one port,
// against the real Redis and Postgres. Each request below goes out on a
// connection of its own, so the primary spreads them over both processes.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import {
  createTestDatabase,
  deleteKeysWithPrefix,
  spawnService,
  TEST_JWT_SECRET,
  TEST_REDIS_URL,
  testToken,
  uniqueQueuePrefix,
  waitFor,
  type ServiceProcess,
  type TestDatabase,
} from '@herald/testkit';

const writer = testToken('notifications:write notifications:read', 'billing');

interface LogLine {
  msg: string;
  worker?: number;
  port?: number;
  [field: string]: unknown;
}

function logLines(p: ServiceProcess): LogLine[] {
  return p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

/** One request on a connection of its own (no keep-alive agent). */
function call(
  port: number,
  method: string,
  path: string,
  body?: object,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        headers: {
          authorization: `Bearer ${writer}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

const notification = (i: number) => ({
  to: { webhookUrl: `https://hooks.example.test/processes/${i}` },
  channels: ['webhook'],
  content: { webhook: { payload: { i } } },
});

/**
 * The gateway processes the primary runs: its children running the gateway's
 * main.ts (tsx may also start an esbuild service as a child, to compile what
 * its cache lacks).
 */
function childPids(pid: number): number[] {
  let pids: number[];
  try {
    pids = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when there are none
  }
  return pids.filter((child) => {
    try {
      return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes(
        'services/gateway/src/main.ts',
      );
    } catch {
      return false; // gone meanwhile
    }
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

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
    gateway = spawnService('gateway', {
      DATABASE_URL: testDb.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'info',
      JWT_SECRET: TEST_JWT_SECRET,
      PORT: '0',
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
    await waitFor(() => listening().has(3), {
      timeoutMs: 60_000,
      what: 'a third process listening in place of the killed one',
    });
    const now = childPids(gateway.child.pid!);
    expect(now).toHaveLength(2);
    expect(now).toContain(survivor);
    expect(now).not.toContain(victim);
    const metrics = await call(port, 'GET', '/metrics');
    // The replacement starts from zero: the killed process's count is gone with it.
    expect(acceptedTotal(metrics.text)).toBeGreaterThanOrEqual(4);
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
      const gateway = spawnService('gateway', {
        DATABASE_URL: testDb.url,
        REDIS_URL: TEST_REDIS_URL,
        LOG_LEVEL: 'info',
        JWT_SECRET: TEST_JWT_SECRET,
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

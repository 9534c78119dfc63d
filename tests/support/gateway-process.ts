// For tests that run the gateway service as `pnpm start` does (a child
// process, maybe with GATEWAY_PROCESSES) and look at its processes and logs.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import pg from 'pg';
import {
  TEST_JWT_SECRET,
  TEST_REDIS_URL,
  spawnService,
  testToken,
  waitFor,
  type ServiceProcess,
} from '@herald/testkit';

const writer = testToken('notifications:write notifications:read', 'billing');

export interface LogLine {
  msg: string;
  worker?: number;
  port?: number;
  [field: string]: unknown;
}

export function logLines(p: ServiceProcess): LogLine[] {
  return p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

/** The gateway as `pnpm start` runs it, logging at info, on a port of its choosing. */
export function spawnGateway(
  env: { DATABASE_URL: string; QUEUE_PREFIX?: string } & Record<string, string>,
): ServiceProcess {
  return spawnService('gateway', {
    REDIS_URL: TEST_REDIS_URL,
    LOG_LEVEL: 'info',
    JWT_SECRET: TEST_JWT_SECRET,
    PORT: '0',
    ...env,
  });
}

/** Waits until `processes` gateway processes logged that they listen; their port. */
export function gatewayListening(gateway: ServiceProcess, processes: number): Promise<number> {
  return waitFor(
    () => {
      if (gateway.child.exitCode !== null) throw new Error(`exited:\n${gateway.output()}`);
      const ports = logLines(gateway)
        .filter((l) => l.msg === 'gateway listening')
        .map((l) => l.port!);
      return ports.length >= processes ? ports[0] : undefined;
    },
    {
      timeoutMs: 90_000,
      intervalMs: 100,
      what: `${processes} gateway process${processes > 1 ? 'es' : ''} listening`,
    },
  );
}

/** One request on a connection of its own (no keep-alive agent). */
export function call(
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

export const notification = (i: number) => ({
  to: { webhookUrl: `https://hooks.example.test/processes/${i}` },
  channels: ['webhook'],
  content: { webhook: { payload: { i } } },
});

/**
 * The gateway processes the primary runs: its children running the gateway's
 * main.ts (tsx may also start an esbuild service as a child, to compile what
 * its cache lacks).
 */
export function childPids(pid: number): number[] {
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

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Keeps every insert into notifications waiting (a lock held in an open
 * transaction), so that a request stays in flight for as long as a test needs.
 */
export async function holdNotificationInserts(databaseUrl: string): Promise<{
  /** Resolves once an insert is waiting on the lock. */
  waiting(): Promise<void>;
  release(): Promise<void>;
}> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE notifications IN SHARE MODE');
  return {
    waiting: () =>
      waitFor(
        async () => {
          const { rows } = await client.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'notifications'::regclass AND NOT granted",
          );
          return rows[0]!.n > 0;
        },
        { what: 'an insert waiting on the lock' },
      ).then(() => undefined),
    release: async () => {
      await client.query('COMMIT').catch(() => {});
      await client.end().catch(() => {});
    },
  };
}

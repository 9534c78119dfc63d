import { mintToken } from '@herald/api';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RetryConfig } from '@herald/core';
import type { Database } from '@herald/db';
import { runChild, type Child } from './child';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const ADMIN_URL =
  process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
export const SCALE = Number(process.env.BENCH_SCALE ?? 1);
/** Concurrency of the bare BullMQ worker that sets the ceiling. */
export const CEILING_CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 100);
/** Herald's workers run with their own defaults unless told otherwise (a job may carry 50 deliveries). */
export const HERALD_CONCURRENCY = process.env.BENCH_HERALD_CONCURRENCY;
export const PREFIX = '{herald-bench}';
export const SIGNING_SECRET = 'bench-signing-secret-0123456789';
export const JWT_SECRET = 'bench-jwt-secret-0123456789-0123456789';
export const RETRY: RetryConfig = {
  baseMs: 1000,
  maxMs: 600_000,
  attempts: { transactional: 5, campaign: 3 },
};

/** A run size, scaled by BENCH_SCALE for quick looks. */
export const n = (base: number) => Math.max(100, Math.round(base * SCALE));

export interface Figure {
  figure: string;
  value: number;
  unit: string;
  target: string;
  pass: boolean;
  detail?: Record<string, unknown>;
}

export interface BenchContext {
  db: Database;
  /** The bench database's URL, for the services run as child processes. */
  databaseUrl: string;
  redis: Redis;
  queues: Map<string, Queue>;
  /**
   * Measures the ceiling now (it clears the bench's Redis keys first) and
   * resolves with its jobs/s. A figure compared with the ceiling measures it
   * right before it runs: the machine's speed drifts over a run, and a ratio
   * should compare two things measured in the same conditions.
   */
  ceiling(): Promise<number>;
  report(figure: Figure): void;
}

export async function clearRedis(redis: Redis): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 5000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}

/** Between figures: empty queues and tables, so each starts from the same place. */
export async function resetState(ctx: BenchContext): Promise<void> {
  await clearRedis(ctx.redis);
  await ctx.db.pool.query(
    'TRUNCATE notifications, campaigns, recipients, outbox, idempotency_keys CASCADE',
  );
  // Write out what earlier figures left dirty now, so that their checkpoint
  // does not land in the middle of the next one (needs a superuser; skipped if not).
  await ctx.db.pool.query('CHECKPOINT').catch(() => {});
}

export function serviceEnv(
  ctx: BenchContext,
  extra: Record<string, string>,
): Record<string, string> {
  return {
    DATABASE_URL: ctx.databaseUrl,
    REDIS_URL,
    QUEUE_PREFIX: PREFIX,
    METRICS_PORT: '0',
    LOG_LEVEL: 'warn',
    ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}),
    ...extra,
  };
}

export function startWebhookWorker(
  ctx: BenchContext,
  name = 'worker-webhook',
  extra: Record<string, string> = {},
): Child {
  return runChild(
    'services/worker-webhook/src/main.ts',
    serviceEnv(ctx, {
      WEBHOOK_SIGNING_SECRET: SIGNING_SECRET,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      ...(HERALD_CONCURRENCY ? { WEBHOOK_CONCURRENCY: HERALD_CONCURRENCY } : {}),
      ...extra,
    }),
    name,
  );
}

/** Waits until a service answers /readyz on `port` (the gateway's PORT, another's METRICS_PORT). */
export async function serviceReady(port: number, what: string): Promise<void> {
  await waitUntil(
    () =>
      fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      ),
    60_000,
    `${what} to be ready`,
  );
}

export async function startSink(file: string): Promise<{ child: Child; port: number }> {
  const child = runChild(file, {});
  const ready = await child.next('ready');
  return { child, port: Number(ready.port) };
}

export async function countSent(db: Database, channel: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM deliveries WHERE channel = $1 AND status = 'sent'",
    [channel],
  );
  return rows[0]!.n;
}

export async function waitUntil(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what = 'condition',
  intervalMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`bench: ${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Processes the bench runs the gateway as (GATEWAY_PROCESSES), unless a
 * figure says otherwise: the default, 1. On two cores shared with Postgres,
 * Redis and the load, a second process costs more CPU per request than it
 * brings; the capacity reference measures both.
 */
export const GATEWAY_PROCESSES = Number(process.env.BENCH_GATEWAY_PROCESSES ?? 1);

/** Starts a gateway child on a port and waits until it answers /readyz. */
export async function startGateway(
  ctx: BenchContext,
  port: number,
  processes = GATEWAY_PROCESSES,
): Promise<Child> {
  const gateway = runChild(
    'services/gateway/src/main.ts',
    serviceEnv(ctx, {
      PORT: String(port),
      JWT_SECRET,
      GATEWAY_PROCESSES: String(processes),
    }),
    'gateway',
  );
  await serviceReady(port, 'the gateway');
  return gateway;
}

/** A gateway token for the bench's own calls. */
export function benchToken(scopes: string[]): string {
  return mintToken({
    sub: 'bench',
    scopes,
    ttl: '2h',
    issuer: 'herald',
    audience: 'herald-api',
    key: { secret: JWT_SECRET },
  });
}

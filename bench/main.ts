/**
 * pnpm bench — Herald's figures (SPEC §7), each beside the ceiling measured in
 * the same run: bare BullMQ no-op jobs/s on this machine, this Redis.
 *
 *   pnpm bench                 every figure
 *   pnpm bench ceiling webhook only these (ceiling always runs)
 *   BENCH_SCALE=0.2 pnpm bench smaller runs (quick check)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { closeQueues, createLaneQueues, type RetryConfig } from '@herald/core';
import { createDatabase, ensureDatabase, runMigrations, type Database } from '@herald/db';
import { mintToken } from '@herald/api';
import { runChild, ROOT, type Child } from './lib/child';
import { measureDrain, percentile, type DrainMeasurement } from './lib/measure';
import { seedDeliveries } from './lib/seed';
import { cpuShare, cpuSnapshot } from './lib/cpu';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN_URL =
  process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 100);
/** Herald's workers run with their own defaults unless told otherwise (a job may carry 50 deliveries). */
const HERALD_CONCURRENCY = process.env.BENCH_HERALD_CONCURRENCY;
const PREFIX = '{herald-bench}';
const SECRET = 'bench-signing-secret-0123456789';
const JWT_SECRET = 'bench-jwt-secret-0123456789-0123456789';
const RETRY: RetryConfig = {
  baseMs: 1000,
  maxMs: 600_000,
  attempts: { transactional: 5, campaign: 3 },
};

const n = (base: number) => Math.max(100, Math.round(base * SCALE));

interface Figure {
  figure: string;
  value: number;
  unit: string;
  target: string;
  pass: boolean;
  detail?: Record<string, unknown>;
}

const dbUrl = (name: string) => {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
};

async function freshDatabase(): Promise<{ url: string; db: Database }> {
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query('DROP DATABASE IF EXISTS herald_bench WITH (FORCE)');
  await admin.end();
  const url = dbUrl('herald_bench');
  await ensureDatabase(url);
  await runMigrations(url);
  return { url, db: createDatabase(url, { max: 10 }) };
}

async function clearRedis(redis: Redis): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 5000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}

function serviceEnv(url: string, extra: Record<string, string>): Record<string, string> {
  return {
    DATABASE_URL: url,
    REDIS_URL,
    QUEUE_PREFIX: PREFIX,
    METRICS_PORT: '0',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

async function startSink(file: string): Promise<{ child: Child; port: number }> {
  const child = runChild(file, {});
  const ready = await child.next('ready');
  return { child, port: Number(ready.port) };
}

async function main() {
  const only = new Set(process.argv.slice(2));
  const wants = (name: string) => only.size === 0 || only.has(name);
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const figures: Figure[] = [];
  const { url, db } = await freshDatabase();
  const queues = createLaneQueues(redis, PREFIX);
  const report = (f: Figure) => {
    figures.push(f);
    process.stdout.write(
      `  ${f.figure}: ${f.value.toFixed(f.unit === 'ms' ? 1 : 0)} ${f.unit} (${f.pass ? 'meets' : 'misses'} ${f.target})\n`,
    );
  };

  // 1. The ceiling: bare BullMQ no-op jobs, same payload size, same concurrency.
  await clearRedis(redis);
  const ceilingJobs = n(40_000);
  const ceilingQueue = new Queue('ceiling', { connection: redis, prefix: PREFIX });
  const samplePayload = {
    v: 1,
    deliveryId: '0192a7e0-0000-7000-8000-000000000000',
    notificationId: '0192a7e0-0000-7000-8000-000000000001',
    lane: 'transactional',
    acceptedAt: Date.now(),
    channel: 'webhook',
    to: { url: 'http://127.0.0.1:1/e2e' },
    content: { payload: { event: 'bench', n: 1 } },
  };
  for (let i = 0; i < ceilingJobs; i += 1000) {
    await ceilingQueue.addBulk(
      Array.from({ length: Math.min(1000, ceilingJobs - i) }, (_, j) => ({
        name: 'noop',
        data: samplePayload,
        opts: { jobId: `c${i + j}`, removeOnComplete: true },
      })),
    );
  }
  process.stdout.write(`ceiling: ${ceilingJobs} no-op jobs, concurrency ${CONCURRENCY}\n`);
  const ceilingWorker = runChild('bench/ceiling-worker.ts', {
    REDIS_URL,
    QUEUE_PREFIX: PREFIX,
    QUEUE: 'ceiling',
    CONCURRENCY: String(CONCURRENCY),
  });
  const cpu0 = cpuSnapshot({ worker: ceilingWorker.process.pid });
  const ceiling = await measureDrain([ceilingQueue], ceilingJobs);
  const ceilingCpu = cpuShare(
    cpu0,
    cpuSnapshot({ worker: ceilingWorker.process.pid }),
    ceiling.seconds,
  );
  await ceilingWorker.stop();
  await ceilingQueue.close();
  report({
    figure: 'bare BullMQ no-op jobs/s (ceiling)',
    value: ceiling.perSecond,
    unit: 'jobs/s',
    target: 'reference',
    pass: true,
    detail: { ...ceiling, cpu: ceilingCpu },
  });

  // 2. Webhook end to end with the Postgres ledger: one worker process, then
  // two (replicas share the queue, as deployed; the machine has two cores).
  if (wants('webhook')) {
    for (const replicas of [1, 2]) {
      await clearRedis(redis);
      const jobs = n(40_000);
      const sink = await startSink('bench/webhook-sink.ts');
      process.stdout.write(
        `webhook (${replicas} worker process${replicas > 1 ? 'es' : ''}): seeding ${jobs} deliveries\n`,
      );
      await seedDeliveries({
        db,
        queues,
        retry: RETRY,
        count: jobs,
        channel: 'webhook',
        lane: 'transactional',
        to: () => ({ url: `http://127.0.0.1:${sink.port}/e2e` }),
        content: { payload: { event: 'bench', n: 1 } },
      });
      const workers = Array.from({ length: replicas }, (_, i) =>
        runChild(
          'services/worker-webhook/src/main.ts',
          serviceEnv(url, {
            WEBHOOK_SIGNING_SECRET: SECRET,
            WEBHOOK_ALLOW_PRIVATE: 'true',
            ...(HERALD_CONCURRENCY ? { WEBHOOK_CONCURRENCY: HERALD_CONCURRENCY } : {}),
          }),
          i === 0 ? 'worker-webhook' : `worker-webhook-${i + 1}`,
        ),
      );
      const pids: Record<string, number | undefined> = { sink: sink.child.process.pid };
      workers.forEach((w, i) => (pids[`worker${i + 1}`] = w.process.pid));
      const before = cpuSnapshot(pids);
      const m = await measureDrain([queues.get('webhook.transactional')!], jobs);
      const cpu = cpuShare(before, cpuSnapshot(pids), m.seconds);
      await Promise.all(workers.map((w) => w.stop()));
      await sink.child.stop();
      const sent = await countSent(db, 'webhook');
      await db.pool.query('TRUNCATE notifications CASCADE');
      const ratio = m.perSecond / ceiling.perSecond;
      report({
        figure: `webhook end-to-end deliveries/s, ${replicas} worker process${replicas > 1 ? 'es' : ''} (Postgres ledger)`,
        value: m.perSecond,
        unit: 'deliveries/s',
        target: '>= 60 % of ceiling',
        pass: ratio >= 0.6 && sent === jobs,
        detail: { ...m, replicas, ratioOfCeiling: ratio, sentInPostgres: sent, cpu },
      });
    }
  }

  // 3. Email over pooled SMTP to a local sink.
  if (wants('email')) {
    await clearRedis(redis);
    const jobs = n(20_000);
    const sink = await startSink('bench/smtp-sink.ts');
    process.stdout.write(`email: seeding ${jobs} deliveries\n`);
    await seedDeliveries({
      db,
      queues,
      retry: RETRY,
      count: jobs,
      channel: 'email',
      lane: 'transactional',
      to: (i) => ({ email: `user${i}@example.test` }),
      content: {
        subject: 'Your receipt',
        text: 'Thanks for your order.',
        html: '<p>Thanks for your <b>order</b>.</p>',
      },
    });
    const worker = runChild(
      'services/worker-email/src/main.ts',
      serviceEnv(url, {
        SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
        ...(HERALD_CONCURRENCY ? { EMAIL_CONCURRENCY: HERALD_CONCURRENCY } : {}),
      }),
      'worker-email',
    );
    const pids = { worker: worker.process.pid, sink: sink.child.process.pid };
    const before = cpuSnapshot(pids);
    const m = await measureDrain([queues.get('email.transactional')!], jobs);
    const cpu = cpuShare(before, cpuSnapshot(pids), m.seconds);
    await worker.stop();
    await sink.child.stop();
    const sent = await countSent(db, 'email');
    report({
      figure: 'email deliveries/s via pooled SMTP',
      value: m.perSecond,
      unit: 'deliveries/s',
      target: '>= 3,000/s',
      pass: m.perSecond >= 3000 && sent === jobs,
      detail: { ...m, ratioOfCeiling: m.perSecond / ceiling.perSecond, sentInPostgres: sent, cpu },
    });
  }

  // 4. Transactional latency under a campaign backlog.
  if (wants('lanes')) {
    await clearRedis(redis);
    const backlog = n(50_000);
    const sink = await startSink('bench/webhook-sink.ts');
    process.stdout.write(`lanes: seeding a ${backlog}-job campaign backlog\n`);
    await seedDeliveries({
      db,
      queues,
      retry: RETRY,
      count: backlog,
      channel: 'webhook',
      lane: 'campaign',
      to: () => ({ url: `http://127.0.0.1:${sink.port}/campaign` }),
      content: { payload: { event: 'newsletter' } },
    });
    const gatewayPort = 3990;
    const gateway = runChild(
      'services/gateway/src/main.ts',
      serviceEnv(url, { PORT: String(gatewayPort), JWT_SECRET }),
      'gateway',
    );
    const worker = runChild(
      'services/worker-webhook/src/main.ts',
      serviceEnv(url, {
        WEBHOOK_SIGNING_SECRET: SECRET,
        WEBHOOK_ALLOW_PRIVATE: 'true',
        ...(HERALD_CONCURRENCY ? { WEBHOOK_CONCURRENCY: HERALD_CONCURRENCY } : {}),
      }),
      'worker-webhook',
    );
    const campaignQueue = queues.get('webhook.campaign')!;
    await waitUntil(async () => (await campaignQueue.getWaitingCount()) < backlog - 1000, 60_000);
    await waitUntil(
      async () =>
        await fetch(`http://127.0.0.1:${gatewayPort}/readyz`).then(
          (r) => r.ok,
          () => false,
        ),
      30_000,
    );
    const token = mintToken({
      sub: 'bench',
      scopes: ['notifications:write'],
      ttl: '1h',
      issuer: 'herald',
      audience: 'herald-api',
      key: { secret: JWT_SECRET },
    });
    const arrivals = new Map<string, number>();
    sink.child.on('tx', (m) => arrivals.set(String(m.path), Number(m.at)));
    const sentAt = new Map<string, number>();
    const total = 200;
    for (let i = 0; i < total; i++) {
      const pathName = `/tx/${i}`;
      sentAt.set(pathName, Date.now());
      void fetch(`http://127.0.0.1:${gatewayPort}/v1/notifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          to: { webhookUrl: `http://127.0.0.1:${sink.port}${pathName}` },
          channels: ['webhook'],
          content: { webhook: { payload: { i } } },
        }),
      });
      await new Promise((r) => setTimeout(r, 20)); // 50 per second, steady
    }
    await waitUntil(() => arrivals.size === total, 60_000);
    const backlogLeft = await campaignQueue.getWaitingCount();
    const latencies = [...sentAt].map(([p, t]) => arrivals.get(p)! - t).sort((a, b) => a - b);
    await worker.stop();
    await gateway.stop();
    await sink.child.stop();
    const p99 = percentile(latencies, 99);
    report({
      figure: 'transactional p99 under a campaign backlog',
      value: p99,
      unit: 'ms',
      target: '<= 1,000 ms',
      pass: p99 <= 1000 && backlogLeft > 0,
      detail: {
        backlog,
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99,
        max: latencies[latencies.length - 1],
        campaignJobsStillWaitingAtEnd: backlogLeft,
      },
    });
  }

  await closeQueues(queues.values());
  await clearRedis(redis);
  redis.disconnect();
  await db.close();
  writeResults(figures, ceiling);
}

async function countSent(db: Database, channel: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM deliveries WHERE channel = $1 AND status = 'sent'",
    [channel],
  );
  return rows[0]!.n;
}

async function waitUntil(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('bench: condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function writeResults(figures: Figure[], ceiling: DrainMeasurement) {
  const rows = figures.map((f) => [
    f.figure,
    `${f.value.toFixed(f.unit === 'ms' ? 1 : 0)} ${f.unit}`,
    f.target,
    f.unit.includes('/s') ? `${((f.value / ceiling.perSecond) * 100).toFixed(0)} %` : '',
    f.pass ? 'yes' : 'NO',
  ]);
  const header = ['figure', 'value', 'target', 'of ceiling', 'meets'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  process.stdout.write(
    `\n${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${rows.map(line).join('\n')}\n`,
  );
  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ at: new Date().toISOString(), machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version }, scale: SCALE, concurrency: CONCURRENCY, ceiling, figures }, null, 2)}\n`,
  );
  process.stdout.write(`\nresults: ${path.relative(ROOT, file)}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exit(1);
});

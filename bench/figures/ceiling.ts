import { Queue } from 'bullmq';
import { runChild } from '../lib/child';
import { CEILING_CONCURRENCY, clearRedis, n, PREFIX, REDIS_URL } from '../lib/context';
import { cpuShare, cpuSnapshot } from '../lib/cpu';
import { measureDrain, type DrainMeasurement } from '../lib/measure';
import type { Redis } from 'ioredis';

/** A delivery payload's size, so the ceiling moves the same bytes per job. */
const SAMPLE_PAYLOAD = {
  v: 1,
  deliveryId: '0192a7e0-0000-7000-8000-000000000000',
  notificationId: '0192a7e0-0000-7000-8000-000000000001',
  lane: 'transactional',
  acceptedAt: 0,
  channel: 'webhook',
  to: { url: 'http://127.0.0.1:1/e2e' },
  content: { payload: { event: 'bench', n: 1 } },
};

/** The ceiling: a bare BullMQ worker doing nothing per job, on the same Redis. */
export async function measureCeiling(
  redis: Redis,
): Promise<DrainMeasurement & { cpu: Record<string, string> }> {
  await clearRedis(redis);
  // Long enough (several seconds) that a burst of speed does not make the ceiling.
  const jobs = n(100_000);
  const queue = new Queue('ceiling', { connection: redis, prefix: PREFIX });
  for (let i = 0; i < jobs; i += 1000) {
    await queue.addBulk(
      Array.from({ length: Math.min(1000, jobs - i) }, (_, j) => ({
        name: 'noop',
        data: SAMPLE_PAYLOAD,
        opts: { jobId: `c${i + j}`, removeOnComplete: true },
      })),
    );
  }
  process.stdout.write(`ceiling: ${jobs} no-op jobs, concurrency ${CEILING_CONCURRENCY}\n`);
  const worker = runChild('bench/ceiling-worker.ts', {
    REDIS_URL,
    QUEUE_PREFIX: PREFIX,
    QUEUE: 'ceiling',
    CONCURRENCY: String(CEILING_CONCURRENCY),
  });
  const pids = { worker: worker.process.pid };
  let before = cpuSnapshot(pids);
  const m = await measureDrain([queue], jobs, { onStart: () => (before = cpuSnapshot(pids)) });
  const cpu = cpuShare(before, cpuSnapshot(pids), m.seconds);
  await worker.stop();
  await queue.close();
  return { ...m, cpu };
}

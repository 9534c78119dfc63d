/**
 * The ceiling: a bare BullMQ worker doing nothing per job, on the same Redis,
 * with the same concurrency as the Herald worker it is compared with.
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const connection = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
const worker = new Worker(process.env.QUEUE!, async () => undefined, {
  connection,
  prefix: process.env.QUEUE_PREFIX!,
  concurrency: Number(process.env.CONCURRENCY ?? 100),
  removeOnComplete: { count: 0 },
});
void worker.waitUntilReady().then(() => process.send?.({ type: 'ready' }));
process.on('SIGTERM', () => {
  void worker
    .close()
    .then(() => connection.quit())
    .then(() => process.exit(0));
});

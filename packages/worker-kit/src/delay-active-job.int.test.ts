// delayActiveJob on a real BullMQ queue: the job leaves active for the
// delayed set without spending an attempt, with its new data and its due time
// written in the same step.
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import { createWorkerConnection, JOB_READY_AT_FIELD, type Redis } from '@herald/core';
import { deleteKeysWithPrefix, TEST_REDIS_URL, uniqueQueuePrefix, waitFor } from '@herald/testkit';
import { delayActiveJob } from './delay-active-job';

describe('delayActiveJob', () => {
  let connection: Redis;
  let prefix: string;
  let queue: Queue;
  let worker: Worker | undefined;
  let workerConnection: Redis | undefined;

  beforeEach(() => {
    connection = createWorkerConnection(TEST_REDIS_URL);
    prefix = uniqueQueuePrefix();
    queue = new Queue('webhook.campaign', { connection, prefix });
  });
  afterEach(async () => {
    await worker?.close(true);
    await workerConnection?.quit(); // BullMQ leaves a connection it was given open
    await queue.close();
    await deleteKeysWithPrefix(prefix);
    await connection.quit();
  });

  it('delays the job with its new data and due time, spending no attempt', async () => {
    await queue.add('deliver', { n: 1 }, { jobId: 'j1', attempts: 3 });
    let until = 0;
    let runs = 0;
    worker = new Worker(
      queue.name,
      async (job: Job, token?: string) => {
        runs += 1;
        until = Date.now() + 60_000;
        await delayActiveJob(queue, job, until, token, { n: 1, slot: 'held' });
        throw new DelayedError();
      },
      { connection: (workerConnection = createWorkerConnection(TEST_REDIS_URL)), prefix },
    );
    await waitFor(async () => (await queue.getDelayedCount()) === 1, {
      what: 'the job in the delayed set',
    });
    const job = (await queue.getJob('j1'))!;
    expect(await job.getState()).toBe('delayed');
    expect(job.data).toEqual({ n: 1, slot: 'held' });
    expect(job.attemptsMade).toBe(0);
    expect(Number(await connection.hget(queue.toKey('j1'), JOB_READY_AT_FIELD))).toBe(until);
    // Due at `until`: BullMQ scores a delayed job by its due time (ms, shifted 12 bits for a
    // counter). Not timestamp + delay: the delay counts from the move, not from the job's creation.
    const dueAt = Math.floor(Number(await connection.zscore(queue.keys.delayed!, 'j1')) / 0x1000);
    expect(Math.abs(dueAt - until)).toBeLessThanOrEqual(1);
    expect(runs).toBe(1);
  });
});

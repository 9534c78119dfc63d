// The KEDA triggers name Redis lists; this proves they are the lists BullMQ
// really writes. A job is added to every lane queue under a throwaway prefix
// (never the real `{herald}` data), and each list the generator names for
// that prefix must exist and hold it.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { allLaneQueues, type Channel } from '@herald/core';
import { deleteKeysWithPrefix, TEST_REDIS_URL, uniqueQueuePrefix } from '@herald/testkit';
import { kedaResources, waitListKey, workerDeploymentName } from '../k8s/generate-keda';

const prefix = uniqueQueuePrefix();
let redis: Redis;
const queues: Queue[] = [];

beforeAll(() => {
  redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
});

afterAll(async () => {
  await Promise.all(queues.map((q) => q.close()));
  await deleteKeysWithPrefix(prefix);
  await redis.quit();
});

/** The listName of every trigger of a worker's ScaledObject, generated for `prefix`. */
function generatedListNames(channel: Channel): string[] {
  const scaled = kedaResources(prefix).find(
    (r) =>
      r.kind === 'ScaledObject' &&
      (r.metadata as { name: string }).name === workerDeploymentName(channel),
  );
  const triggers = (scaled?.spec as { triggers: { metadata: { listName: string } }[] }).triggers;
  return triggers.map((t) => t.metadata.listName);
}

describe('KEDA triggers against a live BullMQ queue', () => {
  it.each(allLaneQueues().map((q) => [q.name, q] as const))(
    '%s: the generated listName is the list BullMQ puts waiting jobs in',
    async (name, { channel }) => {
      const queue = new Queue(name, { connection: redis, prefix });
      queues.push(queue);
      await queue.add('k8s-probe', { probe: true });

      const key = `${prefix}:${name}:wait`;
      expect(waitListKey(prefix, name)).toBe(key);
      expect(generatedListNames(channel)).toContain(key);
      expect(await redis.type(key)).toBe('list');
      expect(await redis.llen(key)).toBe(1);
    },
  );

  it('leaves no key behind', async () => {
    await Promise.all(queues.map((q) => q.obliterate({ force: true })));
    await deleteKeysWithPrefix(prefix);
    const left: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      left.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    expect(left).toEqual([]);
  });
});

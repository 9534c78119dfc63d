import { spawn } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { closeQueues, createLaneQueues, createProducerConnection } from '@herald/core';
import { uniqueQueuePrefix } from './redis-namespace';
import { waitFor } from './wait-for';

export interface PrivateRedis {
  url: string;
  /**
   * From now on refuse every write with OOM (maxmemory 1 byte, noeviction)
   * while reads still answer: Redis failing the way a full one does.
   */
  refuseWrites(): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A real redis-server of the test's own, on a free port, persisting nothing:
 * for failures a test must not inflict on the Redis other tests share.
 */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve()); // no redis-server: the wait below fails, naming the port
  });
  const url = `redis://127.0.0.1:${port}`;
  // Retries until the server listens.
  const admin = new Redis(url, { retryStrategy: () => 25 });
  admin.on('error', () => {});
  const stop = async () => {
    admin.disconnect();
    child.kill('SIGKILL');
    await exited;
  };
  try {
    await waitFor(() => admin.status === 'ready', { what: `redis-server on port ${port}` });
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    async refuseWrites() {
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.config('SET', 'maxmemory', '1');
    },
    stop,
  };
}

/**
 * Every lane queue on a private Redis that refuses writes but answers reads:
 * a producer (the fan-out, the gateway) whose enqueues fail after its
 * Postgres commit, while its window checks still see empty lanes.
 */
export async function laneQueuesRefusingWrites(): Promise<{
  queues: Map<string, Queue>;
  stop(): Promise<void>;
}> {
  const full = await startPrivateRedis();
  await full.refuseWrites();
  const connection = createProducerConnection(full.url);
  connection.on('error', () => {});
  const queues = createLaneQueues(connection, uniqueQueuePrefix());
  return {
    queues,
    async stop() {
      await closeQueues(queues.values());
      connection.disconnect();
      await full.stop();
    },
  };
}

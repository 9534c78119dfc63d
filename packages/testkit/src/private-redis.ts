import { spawn } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
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

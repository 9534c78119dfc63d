import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { prepareTemplateDatabase } from './test-database';
import { TEST_REDIS_URL } from './redis-namespace';

/** Runs once before all test files: real services must answer; the template database is migrated. */
export default async function globalSetup(): Promise<void> {
  // Inherited by the test workers: names this run's databases (see testRunId).
  process.env.HERALD_TEST_RUN = randomBytes(4).toString('hex');
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(`tests need Redis at ${TEST_REDIS_URL}: ${(err as Error).message}`);
  } finally {
    redis.disconnect();
  }
  await prepareTemplateDatabase();
}

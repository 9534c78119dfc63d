import { Redis } from 'ioredis';
import { deleteKeysWithPrefix, TEST_REDIS_URL, uniqueQueuePrefix } from '@herald/testkit';
import { createProviderBudget, type ProviderBudget } from './provider-budget';

describe('createProviderBudget (real Redis)', () => {
  const prefix = uniqueQueuePrefix();
  const RATE = 20;
  let redis: Redis;
  let budget: ProviderBudget;

  beforeAll(() => {
    redis = new Redis(TEST_REDIS_URL);
    budget = createProviderBudget(redis, {
      keyPrefix: prefix,
      channel: 'webhook',
      ratePerSecond: RATE,
    });
  });
  afterAll(async () => {
    await deleteKeysWithPrefix(prefix);
    redis.disconnect();
  });

  /** The bucket as if it had just refilled to `tokens` (no waiting in the test). */
  async function refillTo(tokens: number) {
    const [seconds, micros] = await redis.time();
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    await redis.hset(`${prefix}:budget:webhook`, 'tokens', String(tokens), 'ts', String(now));
  }

  it('a transactional send that had to wait gets the next token, not the campaign lane', async () => {
    // The campaign lane has the bucket to itself while no transactional send asks.
    for (let i = 0; i < RATE; i++) expect(await budget.take('campaign')).toBe(0);
    expect(await budget.take('campaign')).toBeGreaterThan(0);

    // A password reset arrives and finds the bucket empty: it waits…
    expect(await budget.take('transactional')).toBeGreaterThan(0);
    // …and when a token comes back, the campaign lane must leave it alone.
    await refillTo(1.5);
    expect(await budget.take('campaign')).toBeGreaterThan(0);
    expect(await budget.take('transactional')).toBe(0);
  });

  it('holds the campaign lane to tokens above the reserve while transactional sends flow', async () => {
    await refillTo(RATE);
    expect(await budget.take('transactional')).toBe(0);
    let campaignTaken = 0;
    while ((await budget.take('campaign')) === 0) campaignTaken++;
    expect(campaignTaken).toBeGreaterThan(0);
    // The campaign stopped with the reserve (half the rate) still in the bucket.
    const left = Number(await redis.hget(`${prefix}:budget:webhook`, 'tokens'));
    expect(left).toBeGreaterThanOrEqual(RATE / 2);
    expect(await budget.take('transactional')).toBe(0);
  });
});

import { Redis } from 'ioredis';
import { setCampaignRunState } from '@herald/core';
import { deleteKeysWithPrefix, TEST_REDIS_URL, uniqueQueuePrefix } from '@herald/testkit';
import {
  createCampaignThrottle,
  THROTTLE_TOLERANCE_MS,
  type CampaignThrottle,
} from './campaign-throttle';

describe('createCampaignThrottle (real Redis)', () => {
  const prefix = uniqueQueuePrefix();
  let redis: Redis;
  let throttle: CampaignThrottle;

  beforeAll(() => {
    redis = new Redis(TEST_REDIS_URL);
    throttle = createCampaignThrottle(redis, { keyPrefix: prefix });
  });
  afterAll(async () => {
    await deleteKeysWithPrefix(prefix);
    redis.disconnect();
  });

  /**
   * A reservation and when, on this clock, its slot falls: Redis read its
   * clock somewhere between `before` and `after`, and the wait counts from
   * there (rounded up to the ms). Bounds, so the checks hold on a busy machine.
   */
  async function reserveTimed(campaignId: string, perSecond: number, sends: number) {
    const before = Date.now();
    const wait = await throttle.reserve(campaignId, perSecond, sends);
    const after = Date.now();
    return { wait, earliest: before + wait - 1, latest: after + wait };
  }

  /** Expects `slot` to fall `gapMs` after `first` (within what the clocks allow). */
  function expectSlotAfter(
    first: { earliest: number; latest: number },
    slot: { earliest: number; latest: number },
    gapMs: number,
  ) {
    expect(slot.latest).toBeGreaterThanOrEqual(first.earliest + gapMs);
    expect(slot.earliest).toBeLessThanOrEqual(first.latest + gapMs);
  }

  it('gives sends that arrive together consecutive slots, one job cost apart', async () => {
    // 1/s: each send costs a second, far more than the calls take, so each waits.
    const slots: Awaited<ReturnType<typeof reserveTimed>>[] = [];
    for (let i = 0; i < 4; i++) slots.push(await reserveTimed('crowd', 1, 1));
    expect(slots[0]!.wait).toBe(0);
    slots.slice(1).forEach((slot, i) => {
      expect(slot.wait).toBeGreaterThan(0);
      expectSlotAfter(slots[0]!, slot, (i + 1) * 1000 - THROTTLE_TOLERANCE_MS);
    });
  });

  it('charges a batch for every send it carries', async () => {
    const batch = await reserveTimed('batch', 1, 5);
    expect(batch.wait).toBe(0);
    expectSlotAfter(batch, await reserveTimed('batch', 1, 1), 5000 - THROTTLE_TOLERANCE_MS);
  });

  it('keeps each campaign to its own pace', async () => {
    for (let i = 0; i < 3; i++) await throttle.reserve('busy', 1, 1);
    expect(await throttle.reserve('quiet', 1, 1)).toBe(0);
  });

  it('lets sends that come no faster than the pace go at once', async () => {
    // At 100,000/s a send costs 10 µs, less than a round trip to Redis.
    const waits: number[] = [];
    for (let i = 0; i < 20; i++) waits.push(await throttle.reserve('on-time', 100_000, 1));
    expect(waits.every((w) => w === 0)).toBe(true);
  });

  it('reserves nothing while the campaign is paused or cancelled, so a resume starts on time', async () => {
    await setCampaignRunState(redis, prefix, 'held', 'paused');
    for (let i = 0; i < 10; i++) expect(await throttle.reserve('held', 1, 1)).toBe(0);
    expect(await redis.exists(`${prefix}:campaign-throttle:held`)).toBe(0);

    await setCampaignRunState(redis, prefix, 'held', 'running');
    expect(await throttle.reserve('held', 1, 1)).toBe(0);
    expect(await throttle.reserve('held', 1, 1)).toBeGreaterThan(0); // the pace holds again

    await setCampaignRunState(redis, prefix, 'gone', 'cancelled');
    expect(await throttle.reserve('gone', 1, 1)).toBe(0);
    expect(await throttle.reserve('gone', 1, 1)).toBe(0);
  });

  it('forgets a campaign a minute after its last slot', async () => {
    await throttle.reserve('expiring', 1, 2);
    const ttl = await redis.pttl(`${prefix}:campaign-throttle:expiring`);
    expect(ttl).toBeGreaterThan(60_000);
    expect(ttl).toBeLessThanOrEqual(62_000);
  });
});

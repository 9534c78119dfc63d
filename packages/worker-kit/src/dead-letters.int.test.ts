import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import { eraseRecipient } from '@herald/db';
import {
  createTestDatabase,
  deleteKeysWithPrefix,
  TEST_REDIS_URL,
  uniqueQueuePrefix,
  type TestDatabase,
} from '@herald/testkit';
import { createDeadLetters, type DeadLetters } from './dead-letters';

describe('burying a delivery (real Redis and Postgres)', () => {
  const prefix = uniqueQueuePrefix();
  let testDb: TestDatabase;
  let redis: Redis;
  let dlq: Queue;
  let deadLetters: DeadLetters;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    dlq = new Queue('email.dlq', { connection: redis, prefix });
    deadLetters = createDeadLetters({ dlq, channel: 'email', pool: testDb.db.pool });
    await testDb.db.pool.query(
      `INSERT INTO recipients (id, email) VALUES ('u-kept', 'kept@example.test'),
                                                 ('u-gone', 'gone@example.test')`,
    );
  });
  afterAll(async () => {
    await dlq.close();
    await deleteKeysWithPrefix(prefix);
    redis.disconnect();
    await testDb.drop();
  });

  /** A failed email delivery to a stored recipient, and its job payload. */
  async function failedDelivery(recipientId: string | null, email: string) {
    const notification = uuidv7();
    const delivery = uuidv7();
    await testDb.db.pool.query(
      `INSERT INTO notifications (id, owner, lane, strategy, channels, recipient_id)
       VALUES ($1, 'test', 'transactional', 'all', '{email}', $2)`,
      [notification, recipientId],
    );
    await testDb.db.pool.query(
      `INSERT INTO deliveries (id, notification_id, recipient_id, channel, lane, position, status)
       VALUES ($1, $2, $3, 'email', 'transactional', 0, 'failed')`,
      [delivery, notification, recipientId],
    );
    const job = {
      deliveryId: delivery,
      notificationId: notification,
      ...(recipientId ? { recipientId } : {}),
      to: { email },
    };
    return { delivery, notification, job };
  }

  const bury = (d: Awaited<ReturnType<typeof failedDelivery>>) =>
    deadLetters.bury({
      deliveryId: d.delivery,
      notificationId: d.notification,
      lane: 'transactional',
      queue: 'email.transactional',
      reason: 'recipient_rejected: 550',
      attemptsMade: 1,
      job: d.job,
    });

  it('buries a failed delivery under its id, with its payload', async () => {
    const stored = await failedDelivery('u-kept', 'kept@example.test');
    const inline = await failedDelivery(null, 'inline@example.test');
    expect(await bury(stored)).toBe(true);
    expect(await bury(inline)).toBe(true);
    expect((await dlq.getJob(stored.delivery))?.data).toMatchObject({ job: stored.job });
    expect((await dlq.getJob(inline.delivery))?.data).toMatchObject({ job: inline.job });
  });

  it('buries nothing for a recipient erased while the delivery was in flight', async () => {
    const inFlight = await failedDelivery('u-gone', 'gone@example.test');
    await eraseRecipient(testDb.db.pool, 'u-gone', 'crm');
    // The attempt fails for good after the erasure: its letter would hold the erased address.
    expect(await bury(inFlight)).toBe(false);
    expect(await dlq.getJob(inFlight.delivery)).toBeUndefined();
  });
});

import { closeQueues, createDeadLetterQueues, createProducerConnection } from '@herald/core';
import {
  createTestDatabase,
  startPrivateRedis,
  uniqueQueuePrefix,
  type PrivateRedis,
  type TestDatabase,
} from '@herald/testkit';
import { v7 as uuidv7 } from 'uuid';
import { ProblemError } from '../problem';
import { createRecipientService } from './recipient-service';

describe('erasure when Redis cannot be reached', () => {
  let testDb: TestDatabase;
  let redis: PrivateRedis;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    redis = await startPrivateRedis();
  });
  afterAll(async () => {
    await redis.stop();
    await testDb.drop();
  });

  it('erases nothing and answers 503 to retry: no half erasure', async () => {
    const { pool } = testDb.db;
    const connection = createProducerConnection(redis.url);
    connection.on('error', () => {});
    const deadLetterQueues = createDeadLetterQueues(connection, uniqueQueuePrefix());
    const service = createRecipientService({ db: testDb.db, deadLetterQueues });

    // A recipient whose email failed for good: its dead letter carries the address.
    await pool.query(`INSERT INTO recipients (id, email) VALUES ('u-503', 'gone@example.test')`);
    const notification = uuidv7();
    const delivery = uuidv7();
    await pool.query(
      `INSERT INTO notifications (id, owner, lane, strategy, channels, recipient_id, metadata)
       VALUES ($1, 'test', 'transactional', 'all', '{email}', 'u-503', '{"contact": "gone"}')`,
      [notification],
    );
    await pool.query(
      `INSERT INTO deliveries (id, notification_id, recipient_id, channel, lane, position, status)
       VALUES ($1, $2, 'u-503', 'email', 'transactional', 0, 'failed')`,
      [delivery, notification],
    );
    const dlq = deadLetterQueues.get('email')!;
    await dlq.add('dead', { to: { email: 'gone@example.test' } }, { jobId: delivery });

    await redis.stop();
    const problem = (await service.erase('u-503', 'crm').catch((err: unknown) => err)) as Error;
    expect(problem).toBeInstanceOf(ProblemError);
    expect((problem as ProblemError).status).toBe(503);
    expect((problem as ProblemError).detail).toMatch(/nothing was erased/);
    // Postgres is as it was: the recipient, its notification's data, no audit event.
    const row = await pool.query(
      `SELECT r.email, n.metadata FROM recipients r JOIN notifications n ON n.recipient_id = r.id
       WHERE r.id = 'u-503'`,
    );
    expect(row.rows).toEqual([{ email: 'gone@example.test', metadata: { contact: 'gone' } }]);
    const audit = await pool.query(`SELECT count(*)::int AS n FROM audit_events`);
    expect(audit.rows[0].n).toBe(0);
    await closeQueues(deadLetterQueues.values());
    connection.disconnect();
  });
});

import { createTestDatabase, type TestDatabase } from '@herald/testkit';
import { v7 as uuid } from 'uuid';
import { DeliveryLedger } from './delivery-ledger';
import { insertNotifications } from './notification-store';

describe('DeliveryLedger', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(() => t.drop());

  async function createDeliveries(n: number): Promise<string[]> {
    const ids = Array.from({ length: n }, () => uuid());
    const id = uuid();
    await insertNotifications(t.db.pool, [
      {
        notification: {
          id,
          owner: 'test',
          lane: 'transactional',
          strategy: 'all',
          channels: ['email'],
          dispatched: true,
          deliveries: ids.map((d, i) => ({
            id: d,
            channel: 'email',
            lane: 'transactional',
            position: i,
            status: 'queued',
          })),
        },
        outbox: [],
      },
    ]);
    return ids;
  }

  it('writes the attempts of many concurrent jobs in a handful of statements', async () => {
    const ids = await createDeliveries(500);
    const ledger = new DeliveryLedger(t.db.pool, { flushIntervalMs: 10 });
    // Counting the statements that reach the real pool (not replacing it).
    const query = jest.spyOn(t.db.pool, 'query');
    try {
      await Promise.all(
        ids.map((deliveryId) => {
          ledger.markSending(deliveryId);
          return ledger.record({
            deliveryId,
            attempt: 1,
            at: new Date(),
            outcome: 'sent',
            providerMessageId: `m-${deliveryId}`,
            durationMs: 3,
            status: 'sent',
          });
        }),
      );
      expect(query.mock.calls.length).toBeLessThanOrEqual(5);
    } finally {
      query.mockRestore();
      await ledger.close();
    }
    const { rows } = await t.db.pool.query(
      `SELECT count(*)::int AS sent, (SELECT count(*)::int FROM attempts) AS attempts
       FROM deliveries WHERE status = 'sent' AND attempts_count = 1 AND provider_message_id LIKE 'm-%'`,
    );
    expect(rows[0]).toEqual({ sent: 500, attempts: 500 });
  });

  it('keeps terminal statuses, except that sent always wins', async () => {
    const [cancelled, failed] = await createDeliveries(2);
    await t.db.pool.query(`UPDATE deliveries SET status = 'cancelled' WHERE id = $1`, [cancelled]);
    const ledger = new DeliveryLedger(t.db.pool);
    ledger.markSending(cancelled!);
    await ledger.record({
      deliveryId: failed!,
      attempt: 1,
      at: new Date(),
      outcome: 'permanent_error',
      durationMs: 1,
      status: 'failed',
      reason: 'x',
    });
    await ledger.flush();
    await ledger.record({
      deliveryId: failed!,
      attempt: 2,
      at: new Date(),
      outcome: 'transient_error',
      durationMs: 1,
      status: 'queued',
    });
    const status = async (id: string) =>
      (
        await t.db.pool.query<{ status: string }>('SELECT status FROM deliveries WHERE id = $1', [
          id,
        ])
      ).rows[0]!.status;
    expect(await status(cancelled!)).toBe('cancelled');
    expect(await status(failed!)).toBe('failed');
    // A provider success after a cancel is the truth: it was sent.
    await ledger.record({
      deliveryId: cancelled!,
      attempt: 1,
      at: new Date(),
      outcome: 'sent',
      durationMs: 1,
      status: 'sent',
    });
    expect(await status(cancelled!)).toBe('sent');
    await ledger.close();
  });

  it('applies the later of two updates to one delivery in the same flush', async () => {
    const [id] = await createDeliveries(1);
    const ledger = new DeliveryLedger(t.db.pool, { flushIntervalMs: 50 });
    const first = ledger.record({
      deliveryId: id!,
      attempt: 1,
      at: new Date(),
      outcome: 'transient_error',
      durationMs: 1,
      status: 'queued',
    });
    const second = ledger.record({
      deliveryId: id!,
      attempt: 2,
      at: new Date(),
      outcome: 'sent',
      durationMs: 1,
      status: 'sent',
    });
    await Promise.all([first, second]);
    const { rows } = await t.db.pool.query(
      'SELECT status, attempts_count FROM deliveries WHERE id = $1',
      [id],
    );
    expect(rows[0]).toEqual({ status: 'sent', attempts_count: 2 });
    await ledger.close();
  });
});

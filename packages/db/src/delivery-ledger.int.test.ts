import { createTestDatabase, type TestDatabase } from '@herald/testkit';
import { v7 as uuid } from 'uuid';
import { DeliveryLedger } from './delivery-ledger';
import { insertNotifications } from './notification-store';
import { createDatabase } from './database';

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

  it('tells whether a status change applied: not when the delivery is in none of its from statuses', async () => {
    const [queued, cancelled] = await createDeliveries(2);
    await t.db.pool.query(`UPDATE deliveries SET status = 'cancelled' WHERE id = $1`, [cancelled]);
    const ledger = new DeliveryLedger(t.db.pool, { flushIntervalMs: 10 });
    try {
      // One flush: each caller learns its own outcome.
      const applied = await Promise.all([
        ledger.setStatus({ deliveryId: queued!, status: 'skipped', from: ['queued'] }),
        ledger.setStatus({ deliveryId: cancelled!, status: 'skipped', from: ['queued'] }),
        ledger.setStatus({ deliveryId: uuid(), status: 'skipped' }),
      ]);
      expect(applied).toEqual([true, false, false]);
      // Terminal statuses stick: without from, a change to a cancelled delivery does not apply either.
      expect(await ledger.setStatus({ deliveryId: cancelled!, status: 'queued' })).toBe(false);
      const { rows } = await t.db.pool.query<{ id: string; status: string }>(
        'SELECT id, status FROM deliveries WHERE id = ANY($1::uuid[])',
        [[queued, cancelled]],
      );
      expect(Object.fromEntries(rows.map((r) => [r.id, r.status]))).toEqual({
        [queued!]: 'skipped',
        [cancelled!]: 'cancelled',
      });
    } finally {
      await ledger.close();
    }
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

describe('DeliveryLedger on a growing deliveries table', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(() => t.drop());

  it('keeps finding deliveries by key once the table has grown, whatever it was planned against', async () => {
    // One connection, so every flush runs in the session that prepared the statement.
    const db = createDatabase(t.url, { max: 1 });
    const ledger = new DeliveryLedger(db.pool, { flushIntervalMs: 1 });
    const notificationId = uuid();
    await insertNotifications(db.pool, [
      {
        notification: {
          id: notificationId,
          owner: 'test',
          lane: 'campaign',
          strategy: 'all',
          channels: ['webhook'],
          dispatched: true,
          deliveries: [],
        },
        outbox: [],
      },
    ]);
    const addDeliveries = async (n: number): Promise<string[]> => {
      const { rows } = await db.pool.query<{ id: string }>(
        `INSERT INTO deliveries (id, notification_id, channel, lane, position, status)
         SELECT gen_random_uuid(), $1, 'webhook', 'campaign', 0, 'queued' FROM generate_series(1, $2)
         RETURNING id`,
        [notificationId, n],
      );
      return rows.map((r) => r.id);
    };
    const flushEach = async (ids: string[]) => {
      for (const deliveryId of ids) {
        await ledger.record({
          deliveryId,
          attempt: 1,
          at: new Date(),
          outcome: 'sent',
          durationMs: 1,
          status: 'sent',
        });
      }
    };
    /** Sequential scans of deliveries so far, this session's counts included. */
    const seqScans = async () => {
      await db.pool.query('SELECT pg_stat_force_next_flush()');
      await db.pool.query('SELECT 1'); // the flush happens when this transaction ends
      const { rows } = await t.db.pool.query<{ n: string }>(
        `SELECT seq_scan AS n FROM pg_stat_user_tables WHERE relname = 'deliveries'`,
      );
      return Number(rows[0]!.n);
    };
    try {
      // Early flushes against a nearly empty table: enough for Postgres to
      // settle on a cached plan were it allowed to.
      await flushEach(await addDeliveries(12));
      const grown = await addDeliveries(40_000);
      const before = await seqScans();
      await flushEach(grown.slice(0, 10));
      expect(await seqScans()).toBe(before);
      const { rows } = await t.db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM deliveries WHERE status = 'sent'`,
      );
      expect(rows[0]!.n).toBe(22);
    } finally {
      await ledger.close();
      await db.close();
    }
  });
});

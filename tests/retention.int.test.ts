// RETENTION_DAYS: the scheduler's purge of settled notifications past the
// retention, on a real Postgres. Rows are written as the services write them
// (UUIDv7 ids made at their creation time), aged by choosing that time.
import { v7 as uuidv7 } from 'uuid';
import { createRegistry } from '@herald/core';
import { purgeSettledNotifications, RetentionPurger } from '@herald/scheduler';
import { captureLog, createTestDatabase, waitFor, type TestDatabase } from '@herald/testkit';

const DAY_MS = 86_400_000;
const NOW = new Date('2026-06-15T12:00:00Z');
const daysAgo = (days: number) => new Date(NOW.getTime() - days * DAY_MS);

type Status = 'scheduled' | 'queued' | 'sending' | 'sent' | 'failed' | 'cancelled' | 'skipped';

describe('retention: settled notifications older than RETENTION_DAYS are purged', () => {
  let testDb: TestDatabase;
  const pool = () => testDb.db.pool;

  beforeAll(async () => {
    testDb = await createTestDatabase();
  });
  afterAll(async () => {
    await testDb?.drop();
  });
  beforeEach(async () => {
    await pool().query('TRUNCATE notifications, campaigns CASCADE');
  });

  /** A notification made `age` days ago with one delivery per status, each with an attempt. */
  async function notification(
    age: number,
    statuses: Status[],
    campaignId?: string,
  ): Promise<{ id: string; deliveryIds: string[] }> {
    const at = daysAgo(age);
    const id = uuidv7({ msecs: at.getTime() });
    await pool().query(
      `INSERT INTO notifications (id, owner, lane, strategy, channels, campaign_id, created_at)
       VALUES ($1, 'billing', $2, 'all', '{webhook}', $3, $4)`,
      [id, campaignId ? 'campaign' : 'transactional', campaignId ?? null, at],
    );
    const deliveryIds: string[] = [];
    for (const [position, status] of statuses.entries()) {
      const deliveryId = uuidv7({ msecs: at.getTime() });
      deliveryIds.push(deliveryId);
      await pool().query(
        `INSERT INTO deliveries (id, notification_id, campaign_id, channel, lane, position, status, created_at)
         VALUES ($1, $2, $3, 'webhook', $4, $5, $6, $7)`,
        [
          deliveryId,
          id,
          campaignId ?? null,
          campaignId ? 'campaign' : 'transactional',
          position,
          status,
          at,
        ],
      );
      await pool().query(
        `INSERT INTO attempts (delivery_id, attempt, at, outcome, duration_ms)
         VALUES ($1, 1, $2, 'sent', 12)`,
        [deliveryId, at],
      );
    }
    return { id, deliveryIds };
  }

  const exists = async (table: string, column: string, ids: string[]) =>
    Number(
      (
        await pool().query<{ n: string }>(
          `SELECT count(*) AS n FROM ${table} WHERE ${column} = ANY($1::uuid[])`,
          [ids],
        )
      ).rows[0]!.n,
    );

  it('deletes old settled notifications with their deliveries and attempts, keeps the rest', async () => {
    const oldSettled = [
      await notification(40, ['sent']),
      await notification(35, ['failed', 'skipped']),
      await notification(31, ['cancelled']),
    ];
    const oldUnsettled = [
      await notification(40, ['sent', 'queued']),
      await notification(45, ['scheduled']),
      await notification(33, ['sending']),
    ];
    const recent = [await notification(29, ['sent']), await notification(1, ['failed'])];

    const purged = await purgeSettledNotifications(pool(), daysAgo(30));

    expect(purged).toBe(3);
    const ids = (list: { id: string }[]) => list.map((n) => n.id);
    const deliveries = (list: { deliveryIds: string[] }[]) => list.flatMap((n) => n.deliveryIds);
    expect(await exists('notifications', 'id', ids(oldSettled))).toBe(0);
    expect(await exists('deliveries', 'id', deliveries(oldSettled))).toBe(0);
    expect(await exists('attempts', 'delivery_id', deliveries(oldSettled))).toBe(0);
    expect(await exists('notifications', 'id', ids([...oldUnsettled, ...recent]))).toBe(5);
    expect(await exists('deliveries', 'id', deliveries([...oldUnsettled, ...recent]))).toBe(6);
    expect(await exists('attempts', 'delivery_id', deliveries([...oldUnsettled, ...recent]))).toBe(
      6,
    );
  });

  it("keeps a campaign's row and counts when its old notifications go", async () => {
    const campaignId = uuidv7({ msecs: daysAgo(60).getTime() });
    await pool().query(
      `INSERT INTO campaigns (id, owner, name, channels, audience, status, total, sent, failed, created_at, completed_at)
       VALUES ($1, 'marketing', 'spring', '{webhook}', '{"all": true}', 'completed', 2, 1, 1, $2, $2)`,
      [campaignId, daysAgo(60)],
    );
    await notification(60, ['sent'], campaignId);
    await notification(60, ['failed'], campaignId);

    expect(await purgeSettledNotifications(pool(), daysAgo(30))).toBe(2);

    const { rows } = await pool().query(
      'SELECT status, total, sent, failed FROM campaigns WHERE id = $1',
      [campaignId],
    );
    expect(rows).toEqual([{ status: 'completed', total: 2, sent: 1, failed: 1 }]);
  });

  it('a pass goes batch after batch until none is left, counting what it purged', async () => {
    for (let i = 0; i < 7; i++) await notification(50 + i, ['sent']);
    await notification(50, ['queued']);
    const registry = createRegistry('scheduler', false);
    const { log, lines } = captureLog();
    const purger = new RetentionPurger({
      pool: pool(),
      days: 30,
      log,
      registry,
      batchSize: 3,
      now: () => NOW,
    });

    expect(await purger.runOnce()).toBe(7);

    const left = await pool().query<{ n: string }>('SELECT count(*) AS n FROM notifications');
    expect(left.rows[0]!.n).toBe('1');
    expect(await registry.getSingleMetricAsString('herald_notifications_purged_total')).toMatch(
      /^herald_notifications_purged_total{service="scheduler"} 7$/m,
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'retention: notifications purged', purged: 7 }),
    );
    await purger.close();
  });

  it('started, it purges on its own timer and stops on close', async () => {
    await notification(100, ['sent']);
    const { log } = captureLog();
    const purger = new RetentionPurger({ pool: pool(), days: 30, log, now: () => NOW });
    purger.start();
    await waitFor(
      async () =>
        (await pool().query<{ n: string }>('SELECT count(*) AS n FROM notifications')).rows[0]!
          .n === '0',
      { what: 'the old notification purged' },
    );
    await purger.close();
  });

  it('two purgers at once share the work and delete each row once', async () => {
    for (let i = 0; i < 40; i++) await notification(40, ['sent']);
    const { log } = captureLog();
    const purgers = [1, 2].map(
      () => new RetentionPurger({ pool: pool(), days: 30, log, batchSize: 5, now: () => NOW }),
    );
    const counts = await Promise.all(purgers.map((p) => p.runOnce()));
    expect(counts[0]! + counts[1]!).toBe(40);
    const left = await pool().query<{ n: string }>('SELECT count(*) AS n FROM notifications');
    expect(left.rows[0]!.n).toBe('0');
  });
});

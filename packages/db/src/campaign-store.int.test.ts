import { createTestDatabase, type TestDatabase } from '@herald/testkit';
import { v7 as uuid } from 'uuid';
import {
  CampaignNotRunningError,
  createCampaign,
  insertCampaignBatch,
  withCampaignToExpand,
} from './campaign-store';

describe('campaign fan-out claims', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
    await t.db.pool.query(`INSERT INTO recipients (id) VALUES ('r-1')`);
  });
  afterAll(() => t.drop());

  async function runningCampaign(): Promise<string> {
    const id = uuid();
    await createCampaign(
      t.db.pool,
      {
        id,
        notificationId: uuid(),
        owner: 'test',
        name: 'claims',
        content: { webhook: { payload: {} } },
        channels: ['webhook'],
        audience: { all: true },
        category: 'news',
      },
      new Date(),
    );
    return id;
  }

  /** A batch of one delivery for the campaign, as the fan-out writes it. */
  const oneDelivery = (campaignId: string, notificationId: string) => ({
    campaignId,
    notificationId,
    deliveries: [
      {
        id: uuid(),
        recipientId: 'r-1',
        channel: 'webhook' as const,
        lane: 'campaign' as const,
        position: 0,
        status: 'skipped' as const,
        reason: 'no address',
      },
    ],
    jobs: [],
    cursor: 'r-1',
    pacedUntil: undefined,
    expanded: false,
    claimMs: 10_000,
  });

  const deliveriesOf = async (campaignId: string) =>
    (
      await t.db.pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM deliveries WHERE campaign_id = $1',
        [campaignId],
      )
    ).rows[0]!.n;

  it('two replicas never hold the same campaign, and each finds one that is free', async () => {
    const first = await runningCampaign();
    const second = await runningCampaign();
    let inner: string | undefined | null = null;
    const outer = await withCampaignToExpand(t.db.pool, [], async (_client, campaign) => {
      // Another replica, while this one holds the first campaign.
      inner = await withCampaignToExpand(t.db.pool, [], async (_c, other) => other.id);
      return campaign.id;
    });
    expect(outer).toBe(first);
    expect(inner).toBe(second);
    await t.db.pool.query(`UPDATE campaigns SET status = 'completed' WHERE id = ANY($1)`, [
      [first, second],
    ]);
  });

  it('workers update the counters of a campaign being expanded without waiting for it', async () => {
    const id = await runningCampaign();
    await withCampaignToExpand(t.db.pool, [], async (client, campaign) => {
      expect(campaign.id).toBe(id);
      // What the delivery ledger does for every flush; a row lock held by the
      // fan-out would make this wait for the whole batch.
      const worker = await t.db.pool.connect();
      try {
        await worker.query(`SET statement_timeout = '2s'`);
        await worker.query('UPDATE campaigns SET sent = sent + 1 WHERE id = $1', [id]);
      } finally {
        await worker.query('RESET statement_timeout');
        worker.release();
      }
      await insertCampaignBatch(client, oneDelivery(id, campaign.notificationId));
    });
    const { rows } = await t.db.pool.query<{ sent: number; total: number }>(
      'SELECT sent, total FROM campaigns WHERE id = $1',
      [id],
    );
    expect(rows[0]).toEqual({ sent: 1, total: 1 });
    await t.db.pool.query(`UPDATE campaigns SET status = 'completed' WHERE id = $1`, [id]);
  });

  it('a campaign paused while its batch was planned keeps nothing of that batch', async () => {
    const id = await runningCampaign();
    const outcome = await withCampaignToExpand(t.db.pool, [], async (client, campaign) => {
      await t.db.pool.query(`UPDATE campaigns SET status = 'paused' WHERE id = $1`, [id]);
      await insertCampaignBatch(client, oneDelivery(id, campaign.notificationId));
      return 'written';
    }).catch((err: unknown) => err);
    expect(outcome).toBeInstanceOf(CampaignNotRunningError);
    expect(await deliveriesOf(id)).toBe(0);
    const { rows } = await t.db.pool.query<{ total: number; cursor: string | null }>(
      'SELECT total, cursor FROM campaigns WHERE id = $1',
      [id],
    );
    expect(rows[0]).toEqual({ total: 0, cursor: null });
  });
});

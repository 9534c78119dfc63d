import type pg from 'pg';

/**
 * One BullMQ job of a campaign page, as kept in the campaign outbox until
 * Redis has confirmed it: enqueued again under the same id, not before `at`.
 */
export interface CampaignOutboxJob {
  jobId: string;
  queue: string;
  /** Not before (epoch ms): the paced time of a throttled campaign, else the fan-out's. */
  at: number;
  deliveryIds: string[];
  /** The job's data: one delivery's payload, or a batch of them. */
  data: unknown;
}

export interface ClaimedCampaignPage {
  id: string;
  campaignId: string;
  jobs: CampaignOutboxJob[];
}

/**
 * Whether a page of the campaign is still waiting for Redis. The fan-out
 * expands no further until it has gone: while Redis refuses writes, a
 * campaign parks one page in Postgres, not its whole audience.
 */
export async function hasUnconfirmedPage(
  client: pg.PoolClient | pg.Pool,
  campaignId: string,
): Promise<boolean> {
  const { rows } = await client.query<{ waiting: boolean }>(
    'SELECT EXISTS (SELECT 1 FROM campaign_outbox WHERE campaign_id = $1) AS waiting',
    [campaignId],
  );
  return rows[0]!.waiting;
}

/** Redis confirmed every job of the page: its row goes. */
export async function releaseCampaignPage(pool: pg.Pool, id: string): Promise<void> {
  await pool.query('DELETE FROM campaign_outbox WHERE id = $1', [id]);
}

/**
 * Claims pages whose claim ran out (their enqueue failed or its process died):
 * SKIP LOCKED plus a lease, so N relays never take the same page, and the
 * claim commits before any enqueue.
 */
export async function claimCampaignPages(
  pool: pg.Pool,
  options: { leaseMs: number; limit: number },
): Promise<ClaimedCampaignPage[]> {
  const { rows } = await pool.query<{ id: string; campaign_id: string; jobs: CampaignOutboxJob[] }>(
    `UPDATE campaign_outbox SET claimed_until = now() + ($1::int * interval '1 millisecond')
     WHERE id IN (
       SELECT id FROM campaign_outbox WHERE claimed_until < now()
       ORDER BY claimed_until LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING id, campaign_id, jobs`,
    [options.leaseMs, options.limit],
  );
  return rows.map((r) => ({ id: r.id, campaignId: r.campaign_id, jobs: r.jobs }));
}

/**
 * Which of these deliveries still wait for their first send. A page enqueued
 * late must not send what was settled meanwhile (sent by a job that did reach
 * Redis, cancelled, erased), nor what was tried already: a delivery with an
 * attempt left its batch as a retry job of its own.
 */
export async function stillQueued(
  pool: pg.Pool,
  deliveryIds: readonly string[],
): Promise<Set<string>> {
  if (deliveryIds.length === 0) return new Set();
  const { rows } = await pool.query<{ id: string }>(
    `SELECT id FROM deliveries
     WHERE id = ANY($1::uuid[]) AND status = 'queued' AND attempts_count = 0`,
    [deliveryIds],
  );
  return new Set(rows.map((r) => r.id));
}

/**
 * Erasure: removes a recipient's deliveries (addresses included) from the
 * pages not yet enqueued, inside the erasing transaction.
 */
export async function scrubRecipientFromCampaignPages(
  client: pg.PoolClient,
  recipientId: string,
): Promise<void> {
  const { rows } = await client.query<{ id: string; jobs: CampaignOutboxJob[] }>(
    `SELECT id, jobs FROM campaign_outbox
     WHERE jobs @> $1::jsonb OR jobs @> $2::jsonb FOR UPDATE`,
    [
      JSON.stringify([{ data: { recipientId } }]),
      JSON.stringify([{ data: { deliveries: [{ recipientId }] } }]),
    ],
  );
  for (const row of rows) {
    const jobs = row.jobs.flatMap((job) => withoutRecipient(job, recipientId));
    if (jobs.length === 0)
      await client.query('DELETE FROM campaign_outbox WHERE id = $1', [row.id]);
    else
      await client.query('UPDATE campaign_outbox SET jobs = $2::jsonb WHERE id = $1', [
        row.id,
        JSON.stringify(jobs),
      ]);
  }
}

type Member = { deliveryId?: string; recipientId?: string };

function withoutRecipient(job: CampaignOutboxJob, recipientId: string): CampaignOutboxJob[] {
  const data = job.data as Member & { deliveries?: Member[] };
  if (!Array.isArray(data.deliveries)) return data.recipientId === recipientId ? [] : [job];
  const kept = data.deliveries.filter((m) => m.recipientId !== recipientId);
  if (kept.length === 0) return [];
  return [
    {
      ...job,
      deliveryIds: kept.map((m) => m.deliveryId!),
      data: { ...data, deliveries: kept },
    },
  ];
}

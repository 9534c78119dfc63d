import request from 'supertest';
import {
  bearer,
  createHarness,
  testToken,
  waitFor,
  WebhookReceiver,
  type Harness,
} from '@herald/testkit';
import { BATCH_SENDS_IN_FLIGHT } from '@herald/worker-kit';

const SECRET = 'batch-ingest-signing-secret';
const writer = testToken('notifications:write notifications:read recipients:write', 'batch-ingest');

jest.setTimeout(60_000);

interface BatchItemResult {
  index: number;
  id?: string;
  status?: string;
  deliveries?: { id: string; channel: string; status: string }[];
  error?: { type: string; status: number; errors: { field: string; message: string }[] };
}

/** POST /v1/notifications/batch against the real gateway app, Postgres and Redis. */
describe('batch ingest', () => {
  let h: Harness;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    h = await createHarness();
  });

  afterAll(async () => {
    await h.close();
    await receiver.stop();
  });

  const postBatch = (body: unknown) =>
    request(h.app)
      .post('/v1/notifications/batch')
      .set(bearer(writer))
      .send(body as object);
  const webhook = (path: string) => ({
    to: { webhookUrl: receiver.url(path) },
    channels: ['webhook'],
    content: { webhook: { payload: { path } } },
  });

  it('accepts the valid items, rejects each bad one with its own problem, and groups the jobs', async () => {
    await request(h.app)
      .put('/v1/recipients/u-batch')
      .set(bearer(writer))
      .send({ webhookUrl: receiver.url('stored-recipient') })
      .expect(201);

    const { channels: _channels, ...noChannels } = webhook('no-channels');
    const items = [
      webhook('valid-0'),
      noChannels,
      webhook('valid-2'),
      { ...webhook('bad-url'), to: { webhookUrl: 'not a url' } },
      { ...webhook('stored-recipient'), to: { recipientId: 'u-batch' } },
      { ...webhook('no-content'), content: { email: { subject: 's', text: 't' } } },
      { ...webhook('unknown-recipient'), to: { recipientId: 'u-nobody' } },
      webhook('valid-7'),
      webhook('valid-8'),
      webhook('valid-9'),
    ];
    const res = await postBatch({ items }).expect(202);
    expect(res.body).toMatchObject({ accepted: 6, rejected: 4 });
    const results = res.body.items as BatchItemResult[];
    expect(results.map((r) => r.index)).toEqual(items.map((_, i) => i));

    const rejected = new Map(results.filter((r) => r.error).map((r) => [r.index, r.error!]));
    expect([...rejected.keys()]).toEqual([1, 3, 5, 6]);
    const expectedField: Record<number, string> = {
      1: 'channels',
      3: 'to.webhookUrl',
      5: 'content.webhook',
      6: 'to.recipientId',
    };
    for (const [index, error] of rejected) {
      expect(error).toMatchObject({ type: expect.any(String), status: 422 });
      expect(error.errors.map((e) => e.field)).toContain(expectedField[index]);
    }

    const accepted = results.filter((r) => !r.error);
    for (const r of accepted) {
      expect(r).toMatchObject({
        id: expect.any(String),
        status: 'queued',
        deliveries: [{ id: expect.any(String), channel: 'webhook', status: 'queued' }],
      });
    }
    const { rows } = await h.db.pool.query<{ id: string }>('SELECT id FROM notifications');
    expect(rows.map((r) => r.id).sort()).toEqual(accepted.map((r) => r.id).sort());

    // Six deliveries, one batch job.
    const queue = h.queues.get('webhook.transactional')!;
    expect(await queue.getWaitingCount()).toBe(1);
    const [job] = await queue.getWaiting();
    expect(job!.id).toBe(`b-${accepted[0]!.deliveries![0]!.id}`);
    expect(job!.data).toMatchObject({ kind: 'batch', channel: 'webhook' });
    expect(job!.data.deliveries).toHaveLength(6);

    h.startWebhookWorker({ signingSecret: SECRET });
    const paths = ['valid-0', 'valid-2', 'stored-recipient', 'valid-7', 'valid-8', 'valid-9'];
    for (const path of paths) await receiver.waitFor(path, 1, 10_000);
    await waitFor(
      async () =>
        (
          await h.db.pool.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM deliveries WHERE status = 'sent'",
          )
        ).rows[0]!.n === 6,
      { what: 'the six deliveries to be recorded sent' },
    );
    expect(paths.map((p) => receiver.received(p))).toEqual([1, 1, 1, 1, 1, 1]);
    expect(receiver.total).toBe(6);
    expect(
      (await h.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox')).rows[0]!.n,
    ).toBe(0);
  });

  it("sends a batch job's members at most BATCH_SENDS_IN_FLIGHT at a time, and every one of them", async () => {
    const HOLD_MS = 300;
    receiver.behave('slow-batch', { kind: 'slow', ms: HOLD_MS });
    const items = Array.from({ length: 50 }, () => webhook('slow-batch'));
    await postBatch({ items }).expect(202);
    h.startWebhookWorker({ signingSecret: SECRET });
    const received = await receiver.waitFor('slow-batch', 50, 30_000);
    // The receiver holds each request HOLD_MS from its arrival: the most held at once.
    const arrivals = received.map((r) => r.at);
    const mostAtOnce = Math.max(
      ...arrivals.map((t) => arrivals.filter((u) => u <= t && t < u + HOLD_MS).length),
    );
    expect(mostAtOnce).toBeLessThanOrEqual(BATCH_SENDS_IN_FLIGHT);
    expect(mostAtOnce).toBeLessThan(items.length); // never the whole batch at once
    expect(mostAtOnce).toBeGreaterThan(1); // in parallel, not one by one
    expect(new Set(received.map((r) => (r.body as { id: string }).id)).size).toBe(50);
  });

  it.each([
    ['missing', {}],
    ['empty', { items: [] }],
    ['not a list', { items: 'x' }],
    ['over 1,000', { items: Array.from({ length: 1001 }, () => ({})) }],
  ])('items %s: 422 naming items', async (_, body) => {
    const res = await postBatch(body).expect(422);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['items']);
  });
});

describe('batch ingest with an Idempotency-Key', () => {
  let h: Harness;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    h = await createHarness();
    h.startWebhookWorker({ signingSecret: SECRET });
  });
  afterAll(async () => {
    await h.close();
    await receiver.stop();
  });

  const postBatch = (body: unknown, key: string) =>
    request(h.app)
      .post('/v1/notifications/batch')
      .set(bearer(writer))
      .set('Idempotency-Key', key)
      .send(body as object);
  const webhook = (path: string) => ({
    to: { webhookUrl: receiver.url(path) },
    channels: ['webhook'],
    content: { webhook: { payload: { path } } },
  });
  const notificationCount = async () =>
    (await h.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM notifications')).rows[0]!
      .n;
  /** Once no webhook job is left to run, what each path received is final. */
  async function drained(paths: string[]): Promise<number[]> {
    for (const path of paths) await receiver.waitFor(path, 1, 10_000);
    const queue = h.queues.get('webhook.transactional')!;
    await waitFor(
      async () => {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        return Object.values(counts).every((n) => n === 0);
      },
      { what: 'the webhook lane drained' },
    );
    return paths.map((p) => receiver.received(p));
  }

  it('a retried batch replays what was accepted and sends nothing twice', async () => {
    const before = await notificationCount();
    const items = [webhook('retry-0'), { channels: [] }, webhook('retry-2')];
    const first = await postBatch({ items }, 'batch-retry').expect(202);
    const again = await postBatch({ items }, 'batch-retry').expect(202);
    expect(again.body).toEqual(first.body);
    expect(first.body).toMatchObject({ accepted: 2, rejected: 1 });
    expect(await notificationCount()).toBe(before + 2);
    expect(await drained(['retry-0', 'retry-2'])).toEqual([1, 1]);
  });

  it('an item that changed answers 409 alone; the others replay', async () => {
    const items = [webhook('change-0'), webhook('change-1')];
    const first = await postBatch({ items }, 'batch-change').expect(202);
    const changed = await postBatch(
      { items: [items[0], webhook('change-1-other')] },
      'batch-change',
    ).expect(202);
    expect(changed.body.items[0]).toEqual(first.body.items[0]);
    expect(changed.body.items[1]).toMatchObject({ index: 1, error: { status: 409 } });
    expect(changed.body).toMatchObject({ accepted: 1, rejected: 1 });
    expect(await drained(['change-0', 'change-1'])).toEqual([1, 1]);
    expect(receiver.received('change-1-other')).toBe(0);
  });

  it('two tries at once write the batch once', async () => {
    const before = await notificationCount();
    const items = Array.from({ length: 20 }, (_, i) => webhook(`race-${i}`));
    const [a, b] = await Promise.all([
      postBatch({ items }, 'batch-race').expect(202),
      postBatch({ items }, 'batch-race').expect(202),
    ]);
    expect(a.body).toEqual(b.body);
    expect(await notificationCount()).toBe(before + 20);
    expect(await drained(items.map((_, i) => `race-${i}`))).toEqual(Array(20).fill(1));
  });

  it('keys of single sends and of batches never meet', async () => {
    const single = await request(h.app)
      .post('/v1/notifications')
      .set(bearer(writer))
      .set('Idempotency-Key', 'shared-key')
      .send(webhook('single-shared'))
      .expect(202);
    const batch = await postBatch({ items: [webhook('batch-shared')] }, 'shared-key').expect(202);
    expect(batch.body.items[0].id).not.toBe(single.body.id);
    expect(await drained(['single-shared', 'batch-shared'])).toEqual([1, 1]);
  });

  it('a malformed key is a 422 naming the header', async () => {
    const res = await postBatch({ items: [webhook('bad-key')] }, 'no spaces allowed').expect(422);
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'Idempotency-Key' })]);
  });
});

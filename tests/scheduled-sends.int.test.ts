import { randomUUID } from 'node:crypto';
import request from 'supertest';
import {
  bearer,
  createHarness,
  testToken,
  waitFor,
  WebhookReceiver,
  type Harness,
} from '@herald/testkit';

const SECRET = 'scheduled-sends-signing-secret';
const writer = testToken('notifications:write notifications:read', 'scheduled-sends');
/** Timers and clocks of one machine: a delayed job may fire this early, no more. */
const CLOCK_SLACK_MS = 20;

jest.setTimeout(60_000);

/**
 * Scheduled sends and cancellation, end to end: the gateway app, the
 * scheduler loop (outbox relay) and a webhook worker, on real Postgres and
 * Redis, delivering to a real HTTP receiver.
 */
describe('scheduled sends and cancellation', () => {
  let h: Harness;
  let receiver: WebhookReceiver;

  beforeEach(async () => {
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    h = await createHarness();
  });

  afterEach(async () => {
    await h.close();
    await receiver.stop();
  });

  const webhookQueue = () => h.queues.get('webhook.transactional')!;

  async function send(path: string, sendAt?: number) {
    const res = await request(h.app)
      .post('/v1/notifications')
      .set(bearer(writer))
      .send({
        to: { webhookUrl: receiver.url(path) },
        channels: ['webhook'],
        content: { webhook: { payload: { path } } },
        ...(sendAt !== undefined ? { sendAt: new Date(sendAt).toISOString() } : {}),
      })
      .expect(202);
    return {
      id: res.body.id as string,
      deliveryId: res.body.deliveries[0].id as string,
      body: res.body,
    };
  }

  const cancel = (id: string) =>
    request(h.app).post(`/v1/notifications/${id}/cancel`).set(bearer(writer));
  const view = async (id: string) =>
    (await request(h.app).get(`/v1/notifications/${id}`).set(bearer(writer)).expect(200)).body;
  const outboxRows = async (deliveryId?: string) =>
    (
      await h.db.pool.query<{ job_id: string; queue: string; available_at: Date }>(
        `SELECT job_id, queue, available_at FROM outbox
         WHERE $1::uuid IS NULL OR delivery_id = $1::uuid`,
        [deliveryId ?? null],
      )
    ).rows;

  it('waits in Postgres until due, then is delivered on time, not before', async () => {
    const sendAt = Date.now() + 1500;
    const { id, deliveryId, body } = await send('on-time', sendAt);
    expect(body).toMatchObject({
      status: 'scheduled',
      deliveries: [{ id: deliveryId, channel: 'webhook', status: 'scheduled' }],
    });

    // Nothing in Redis yet: the send lives in the outbox, due at sendAt.
    for (const queue of h.queues.values()) expect(await queue.count()).toBe(0);
    expect(await webhookQueue().getJob(deliveryId)).toBeUndefined();
    expect(await outboxRows(deliveryId)).toEqual([
      { job_id: deliveryId, queue: 'webhook.transactional', available_at: new Date(sendAt) },
    ]);
    expect(await view(id)).toMatchObject({
      status: 'scheduled',
      sendAt: new Date(sendAt).toISOString(),
    });

    h.startWebhookWorker({ signingSecret: SECRET });
    h.startScheduler();
    const [arrival] = await receiver.waitFor('on-time', 1, 10_000);
    expect(arrival!.at).toBeGreaterThanOrEqual(sendAt - CLOCK_SLACK_MS);
    expect(arrival!.at).toBeLessThan(sendAt + 1000);
    expect(arrival!.signatureValid).toBe(true);
    expect(arrival!.body).toMatchObject({ notificationId: id, payload: { path: 'on-time' } });

    const sent = await waitFor(
      async () => {
        const v = await view(id);
        return v.status === 'sent' ? v : undefined;
      },
      { what: 'the notification to be sent' },
    );
    expect(sent.deliveries[0]).toMatchObject({ id: deliveryId, status: 'sent' });
    expect(sent.dispatchedAt).toEqual(expect.any(String));
    expect(await outboxRows()).toEqual([]);
    expect(receiver.received('on-time')).toBe(1);
  });

  it('cancelled before it is due, whether still in the outbox or already delayed in Redis: never sent', async () => {
    h.startWebhookWorker({ signingSecret: SECRET });
    // Due 4 s out (inside the relay's 5 s horizon): time enough for the steps
    // before the cancel, even on a loaded machine.
    const base = Date.now();
    const early = await send('cancelled-in-outbox', base + 4000);
    const late = await send('cancelled-in-redis', base + 4000);
    // A control due a second after them: once it arrives, they were due long ago.
    const control = await send('control', base + 5000);

    // Before any scheduler runs: the entry is still in the outbox.
    const first = await cancel(early.id).expect(200);
    expect(first.body).toMatchObject({
      id: early.id,
      status: 'cancelled',
      cancelled: [early.deliveryId],
      deliveries: [{ id: early.deliveryId, status: 'cancelled' }],
    });
    expect(await outboxRows(early.deliveryId)).toEqual([]);

    // Within its horizon the relay moves the other one to Redis as a delayed job.
    h.startScheduler();
    await waitFor(async () => (await webhookQueue().getJob(late.deliveryId))?.isDelayed(), {
      what: 'the scheduled job to be delayed in Redis',
    });
    expect(Date.now()).toBeLessThan(base + 4000); // still not due
    const second = await cancel(late.id).expect(200);
    expect(second.body).toMatchObject({
      status: 'cancelled',
      cancelled: [late.deliveryId],
      deliveries: [{ id: late.deliveryId, status: 'cancelled' }],
    });
    expect(await webhookQueue().getJob(late.deliveryId)).toBeUndefined();

    const [controlArrival] = await receiver.waitFor('control', 1, 10_000);
    expect(controlArrival!.at).toBeGreaterThanOrEqual(base + 5000 - CLOCK_SLACK_MS);
    expect(receiver.received('cancelled-in-outbox')).toBe(0);
    expect(receiver.received('cancelled-in-redis')).toBe(0);
    for (const { id } of [early, late]) {
      expect(await view(id)).toMatchObject({
        status: 'cancelled',
        cancelledAt: expect.any(String),
        deliveries: [{ status: 'cancelled', attemptsCount: 0 }],
      });
    }
    expect(await outboxRows()).toEqual([]);

    // Nothing left to cancel: 409; the sent control too. Unknown ids: 404.
    const again = await cancel(early.id).expect(409);
    expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);
    await waitFor(async () => (await view(control.id)).status === 'sent', {
      what: 'the control to be recorded sent',
    });
    await cancel(control.id).expect(409);
    await cancel(randomUUID()).expect(404);
    await cancel('not-a-uuid').expect(404);
  });

  it('a queued notification cancelled before any worker ran: its job is removed, never delivered', async () => {
    const queued = await send('cancelled-queued');
    expect(queued.body.status).toBe('queued');
    expect(await (await webhookQueue().getJob(queued.deliveryId))?.getState()).toBe('waiting');

    // Two more travelling together in one batch job: cancelling one leaves the job,
    // and the worker skips the cancelled member (its marker).
    const batch = await request(h.app)
      .post('/v1/notifications/batch')
      .set(bearer(writer))
      .send({
        items: ['cancelled-in-batch', 'kept-in-batch'].map((path) => ({
          to: { webhookUrl: receiver.url(path) },
          channels: ['webhook'],
          content: { webhook: { payload: { path } } },
        })),
      })
      .expect(202);
    const [inBatch, kept] = batch.body.items as { id: string; deliveries: { id: string }[] }[];
    expect(await webhookQueue().getWaitingCount()).toBe(2);

    const res = await cancel(queued.id).expect(200);
    expect(res.body).toMatchObject({
      status: 'cancelled',
      deliveries: [{ id: queued.deliveryId, status: 'cancelled' }],
    });
    expect(await webhookQueue().getJob(queued.deliveryId)).toBeUndefined();
    await cancel(inBatch!.id).expect(200);
    expect(await webhookQueue().getWaitingCount()).toBe(1);

    h.startWebhookWorker({ signingSecret: SECRET });
    const control = await send('control');
    await receiver.waitFor('control', 1, 10_000);
    await receiver.waitFor('kept-in-batch', 1, 10_000);
    expect(receiver.received('cancelled-queued')).toBe(0);
    expect(receiver.received('cancelled-in-batch')).toBe(0);
    await waitFor(
      async () =>
        (await view(control.id)).status === 'sent' && (await view(kept!.id)).status === 'sent',
      { what: 'the control and the kept batch member to be recorded sent' },
    );
    for (const id of [queued.id, inBatch!.id]) {
      expect(await view(id)).toMatchObject({
        status: 'cancelled',
        deliveries: [{ status: 'cancelled', attemptsCount: 0 }],
      });
    }
    expect(await webhookQueue().count()).toBe(0);
  });
});

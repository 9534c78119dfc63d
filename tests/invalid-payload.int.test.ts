import request from 'supertest';
import {
  batchJobData,
  deliveryJobOptions,
  JOB_PAYLOAD_VERSION,
  type DeadLetter,
} from '@herald/core';
import {
  bearer,
  createHarness,
  testToken,
  waitFor,
  WebhookReceiver,
  type Harness,
} from '@herald/testkit';

const SECRET = 'invalid-payload-webhook-secret';
const writer = testToken('notifications:write notifications:read', 'invalid-payload');
const QUEUE = 'webhook.transactional';

/**
 * A job whose payload does not parse (garbage, or a schema version this
 * worker does not know, e.g. written by a newer deploy) can never succeed:
 * it goes to the channel's DLQ at once with reason invalid_payload, spends
 * no retries, and the worker goes on with the next job.
 */
describe('jobs whose payload does not parse', () => {
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

  const queue = () => h.queues.get(QUEUE)!;
  const addRaw = (jobId: string, data: unknown) =>
    queue().add('deliver', data, deliveryJobOptions('transactional', h.retry, jobId));
  const deadLetter = (jobId: string) =>
    waitFor(async () => (await h.dlq('webhook').getJob(jobId))?.data as DeadLetter | undefined, {
      what: `dead letter ${jobId}`,
    });

  /** A real scheduled delivery (it waits in Postgres) and the job payload planned for it. */
  async function scheduledDelivery(path: string) {
    const res = await request(h.app)
      .post('/v1/notifications')
      .set(bearer(writer))
      .send({
        to: { webhookUrl: receiver.url(path) },
        channels: ['webhook'],
        content: { webhook: { payload: { path } } },
        sendAt: new Date(Date.now() + 3_600_000).toISOString(),
      })
      .expect(202);
    const deliveryId: string = res.body.deliveries[0].id;
    const { rows } = await h.db.pool.query<{ payload: Record<string, unknown> }>(
      'SELECT payload FROM outbox WHERE delivery_id = $1',
      [deliveryId],
    );
    return { notificationId: res.body.id as string, deliveryId, payload: rows[0]!.payload };
  }

  const getNotification = async (id: string) =>
    (await request(h.app).get(`/v1/notifications/${id}`).set(bearer(writer)).expect(200)).body;

  it('dead-letters a payload that is not a delivery job, with reason invalid_payload', async () => {
    await addRaw('garbage-1', { hello: 'world' });
    const letter = await deadLetter('garbage-1');
    expect(letter).toMatchObject({
      deliveryId: 'garbage-1',
      channel: 'webhook',
      queue: QUEUE,
      reason: expect.stringMatching(/^invalid_payload: /),
      attemptsMade: 1,
      job: { hello: 'world' },
    });
    // Finished, not retried: nothing of it is left on the lane queue.
    expect(await queue().getJob('garbage-1')).toBeUndefined();

    // A batch job of a schema version this worker does not know, buried under its job id.
    const batch = batchJobData('webhook', 'transactional', [{ hello: 'world' }]);
    await addRaw('b-from-the-future', { ...batch, v: JOB_PAYLOAD_VERSION + 1 });
    expect(await deadLetter('b-from-the-future')).toMatchObject({
      reason: expect.stringMatching(/^invalid_payload: /),
      attemptsMade: 1,
      job: { kind: 'batch', v: JOB_PAYLOAD_VERSION + 1 },
    });
    expect(await queue().getJobCounts('failed', 'delayed', 'wait')).toEqual({
      failed: 0,
      delayed: 0,
      wait: 0,
    });
  });

  it('dead-letters an unknown schema version and records the delivery failed', async () => {
    const { notificationId, deliveryId, payload } = await scheduledDelivery('future-version');
    expect(payload.v).toBe(JOB_PAYLOAD_VERSION);
    await addRaw(deliveryId, { ...payload, v: JOB_PAYLOAD_VERSION + 1 });

    const letter = await deadLetter(deliveryId);
    expect(letter).toMatchObject({
      deliveryId,
      notificationId,
      lane: 'transactional',
      reason: expect.stringMatching(/^invalid_payload: /),
      job: { v: JOB_PAYLOAD_VERSION + 1, deliveryId },
    });
    const n = await waitFor(
      async () => {
        const view = await getNotification(notificationId);
        return view.deliveries[0].status === 'failed' ? view : undefined;
      },
      { what: 'the delivery recorded failed' },
    );
    expect(n.deliveries[0].reason).toMatch(/^invalid_payload/);
    expect(n.deliveries[0].attempts).toEqual([
      expect.objectContaining({ outcome: 'permanent_error', errorCode: 'invalid_payload' }),
    ]);
    expect(receiver.received('future-version')).toBe(0);
  });

  it('buries the bad member of a batch alone and delivers the others', async () => {
    const good = await scheduledDelivery('batch-good');
    const bad = await scheduledDelivery('batch-bad');
    await addRaw(
      `b-${good.deliveryId}`,
      batchJobData('webhook', 'transactional', [
        good.payload,
        { ...bad.payload, channel: undefined, to: 42 },
      ]),
    );
    const [arrival] = await receiver.waitFor('batch-good', 1);
    expect(arrival!.body).toMatchObject({ id: good.deliveryId });
    const letter = await deadLetter(bad.deliveryId);
    expect(letter.reason).toMatch(/^invalid_payload: /);
    // The member as a whole, with the fields the batch stored once for both (v, lane).
    expect(letter.job).toEqual({ ...bad.payload, channel: undefined, to: 42 });
    expect(await h.dlq('webhook').getJob(good.deliveryId)).toBeUndefined();
    expect(receiver.received('batch-bad')).toBe(0);
  });

  it('dead-letters a bad campaign throttle at once, naming the field, rather than pacing by it', async () => {
    const { deliveryId, payload } = await scheduledDelivery('bad-throttle');
    await addRaw(deliveryId, {
      ...payload,
      campaignId: '0190a0a0-0000-7000-8000-000000000001',
      throttlePerSecond: 0,
    });
    const letter = await deadLetter(deliveryId);
    expect(letter.reason).toMatch(/^invalid_payload: .*throttlePerSecond/s);
    expect(letter.attemptsMade).toBe(1);
    expect(receiver.received('bad-throttle')).toBe(0);
  });

  it('keeps the worker running: a valid notification after them is delivered', async () => {
    const res = await request(h.app)
      .post('/v1/notifications')
      .set(bearer(writer))
      .send({
        to: { webhookUrl: receiver.url('after') },
        channels: ['webhook'],
        content: { webhook: { payload: { after: true } } },
      })
      .expect(202);
    await receiver.waitFor('after', 1);
    await waitFor(async () => (await getNotification(res.body.id)).status === 'sent', {
      what: 'the later notification sent',
    });
    const dead = await h.workerRegistry.getSingleMetric('herald_deliveries_total')!.get();
    const deadCount = dead.values
      .filter((v) => v.labels.outcome === 'dead')
      .reduce((sum, v) => sum + v.value, 0);
    expect(deadCount).toBe(5);
  });
});

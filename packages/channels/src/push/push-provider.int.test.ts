import { randomUUID } from 'node:crypto';
import https from 'node:https';
import net from 'node:net';
import {
  createLogger,
  DeliveryError,
  JOB_PAYLOAD_VERSION,
  type Lane,
  type PushContent,
  type PushSubscription,
} from '@herald/core';
import { PushService } from '@herald/testkit';
import { generateVAPIDKeys } from 'web-push';
import type { ChannelMessage, ChannelProvider, SendContext } from '../provider';
import { createPushProvider, type PushProviderOptions } from './push-provider';

const log = createLogger('push-provider-test', 'silent');
const vapid = { ...generateVAPIDKeys(), subject: 'mailto:ops@herald.test' };
const ttlSeconds = { transactional: 900, campaign: 86_400 };
const content: PushContent = {
  title: 'Your order shipped',
  body: 'It arrives on Thursday.',
  icon: 'https://herald.test/icon.png',
  url: 'https://herald.test/orders/42',
};

let service: PushService;
let agent: https.Agent;
let provider: ChannelProvider<'push'>;

function options(overrides: Partial<PushProviderOptions> = {}): PushProviderOptions {
  return { vapid, ttlSeconds, timeoutMs: 2_000, agent, ...overrides };
}

function job(
  subscription: PushSubscription,
  lane: Lane = 'transactional',
  body: PushContent = content,
): { message: ChannelMessage<'push'>; ctx: SendContext } {
  const deliveryId = randomUUID();
  const notificationId = randomUUID();
  return {
    message: {
      v: JOB_PAYLOAD_VERSION,
      channel: 'push',
      deliveryId,
      notificationId,
      lane,
      acceptedAt: Date.now(),
      to: { subscription },
      content: body,
    },
    ctx: { deliveryId, notificationId, lane, attempt: 1, log },
  };
}

async function sendTo(subscription: PushSubscription, lane: Lane = 'transactional') {
  const { message, ctx } = job(subscription, lane);
  return { result: await provider.send(message, ctx), deliveryId: ctx.deliveryId };
}

async function failureOf(
  subscription: PushSubscription,
  via: ChannelProvider<'push'> = provider,
): Promise<DeliveryError> {
  const { message, ctx } = job(subscription);
  const err: unknown = await via.send(message, ctx).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeliveryError);
  return err as DeliveryError;
}

beforeAll(async () => {
  service = await new PushService({ expectVapidPublicKey: vapid.publicKey }).start();
  agent = new https.Agent({ ca: service.ca, keepAlive: true });
  provider = createPushProvider(options());
});

afterAll(async () => {
  await provider.close();
  agent.destroy();
  await service.stop();
});

describe('push provider against a real push service', () => {
  it('delivers an encrypted, VAPID-signed message the subscriber can decrypt', async () => {
    const id = randomUUID();
    const subscription = service.createSubscription(id);
    const { result, deliveryId } = await sendTo(subscription);

    const [push] = await service.waitForMessages(id, 1);
    expect(push?.payload).toEqual({
      title: content.title,
      body: content.body,
      icon: content.icon,
      url: content.url,
      deliveryId,
    });
    expect(result.providerMessageId).toBe(push?.location);
    expect(result.providerMessageId).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/message\//);
  });

  it('sends transactional messages with a short TTL and high urgency, campaigns with a long TTL', async () => {
    const id = randomUUID();
    const subscription = service.createSubscription(id);
    const first = await sendTo(subscription, 'transactional');
    await sendTo(subscription, 'campaign');

    const [transactional, campaign] = await service.waitForMessages(id, 2);
    expect(transactional).toMatchObject({ ttl: 900, urgency: 'high' });
    expect(campaign).toMatchObject({ ttl: 86_400, urgency: 'normal' });
    // One topic per delivery: a retry replaces its own copy still waiting at the service.
    expect(transactional?.topic).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
    expect(transactional?.topic).not.toBe(campaign?.topic);
    const { message, ctx } = job(subscription);
    await provider.send(message, { ...ctx, deliveryId: first.deliveryId, attempt: 2 });
    const messages = await service.waitForMessages(id, 3);
    expect(messages[2]?.topic).toBe(transactional?.topic);
  });

  it('reuses its connection across messages', async () => {
    const id = randomUUID();
    const subscription = service.createSubscription(id);
    await sendTo(subscription);
    const before = service.connections;
    await sendTo(subscription);
    await sendTo(subscription);
    expect(service.connections).toBe(before);
  });

  it('is refused (provider_refused, counted by the breaker) when signing with a VAPID key the service does not expect', async () => {
    const stranger = createPushProvider(
      options({ vapid: { ...generateVAPIDKeys(), subject: 'mailto:ops@herald.test' } }),
    );
    const id = randomUUID();
    const err = await failureOf(service.createSubscription(id), stranger);
    await stranger.close();
    expect(err).toMatchObject({ code: 'provider_refused', kind: 'transient' });
    expect(service.requests(id)).toMatchObject([
      { status: 403, reason: expect.stringMatching(/VAPID key/) },
    ]);
    expect(service.received(id)).toEqual([]);
  });

  it('refuses at creation VAPID keys that do not belong together', () => {
    const other = generateVAPIDKeys();
    expect(() =>
      createPushProvider(options({ vapid: { ...vapid, privateKey: other.privateKey } })),
    ).toThrow(/does not belong/);
    expect(() => createPushProvider(options({ vapid: { ...vapid, subject: 'ops' } }))).toThrow();
  });

  it.each([404, 410])('classifies %i as subscription_gone (permanent)', async (status) => {
    const id = randomUUID();
    service.behave(id, { kind: 'status', status });
    const err = await failureOf(service.createSubscription(id));
    expect(err).toMatchObject({ code: 'subscription_gone', kind: 'permanent' });
  });

  it('classifies the real answers for an unknown and an unsubscribed subscription as gone', async () => {
    const unknown = service.createSubscription(randomUUID());
    const unknownErr = await failureOf({ ...unknown, endpoint: `${service.origin}/push/nobody` });
    expect(unknownErr).toMatchObject({ code: 'subscription_gone', kind: 'permanent' });
    expect(service.requests('nobody')).toMatchObject([{ status: 404 }]);

    const id = randomUUID();
    const subscription = service.createSubscription(id);
    service.unsubscribe(id);
    const goneErr = await failureOf(subscription);
    expect(goneErr).toMatchObject({ code: 'subscription_gone', kind: 'permanent' });
    expect(service.requests(id)).toMatchObject([{ status: 410 }]);
  });

  it('classifies 413 as content_rejected (permanent), scripted and for a real oversized payload', async () => {
    const scripted = randomUUID();
    service.behave(scripted, { kind: 'status', status: 413 });
    const err = await failureOf(service.createSubscription(scripted));
    expect(err).toMatchObject({ code: 'content_rejected', kind: 'permanent' });

    const id = randomUUID();
    const { message, ctx } = job(service.createSubscription(id), 'transactional', {
      title: 'Too long',
      body: 'x'.repeat(4096),
    });
    await expect(provider.send(message, ctx)).rejects.toMatchObject({
      code: 'content_rejected',
      kind: 'permanent',
    });
    expect(service.requests(id)).toMatchObject([{ status: 413 }]);
  });

  it('classifies 429 as rate_limited for the recipient, honouring Retry-After in seconds', async () => {
    const id = randomUUID();
    service.behave(id, { kind: 'status', status: 429, retryAfter: 7, times: 1 });
    const subscription = service.createSubscription(id);
    const err = await failureOf(subscription);
    expect(err).toMatchObject({
      code: 'rate_limited',
      kind: 'rate_limited',
      retryAfterMs: 7000,
      scope: 'recipient',
    });
    // The next attempt goes through.
    await sendTo(subscription);
    expect(service.received(id)).toHaveLength(1);
  });

  it('honours Retry-After given as an HTTP date', async () => {
    const id = randomUUID();
    const at = new Date(Date.now() + 60_000).toUTCString();
    service.behave(id, { kind: 'status', status: 429, retryAfter: at });
    const err = await failureOf(service.createSubscription(id));
    expect(err.retryAfterMs).toBeGreaterThan(55_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it.each([400, 401, 403])(
    'classifies %i as provider_refused (retried, counted by the breaker)',
    async (status) => {
      const id = randomUUID();
      service.behave(id, { kind: 'status', status });
      const err = await failureOf(service.createSubscription(id));
      expect(err).toMatchObject({ code: 'provider_refused', kind: 'transient' });
    },
  );

  it('classifies 5xx as provider_unavailable (transient), for one subscription or all', async () => {
    const id = randomUUID();
    service.behave(id, { kind: 'status', status: 500 });
    const err = await failureOf(service.createSubscription(id));
    expect(err).toMatchObject({ code: 'provider_unavailable', kind: 'transient' });

    service.failAll(503);
    try {
      const outage = await failureOf(service.createSubscription(randomUUID()));
      expect(outage).toMatchObject({ code: 'provider_unavailable', kind: 'transient' });
    } finally {
      service.failAll(undefined);
    }
  });

  it('gives up on a push service slower than its deadline with a timeout', async () => {
    const quick = createPushProvider(options({ timeoutMs: 300 }));
    const id = randomUUID();
    service.behave(id, { kind: 'slow', ms: 5_000 });
    const started = Date.now();
    const err = await failureOf(service.createSubscription(id), quick);
    await quick.close();
    expect(err).toMatchObject({ code: 'timeout', kind: 'transient' });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(service.requests(id)).toHaveLength(1);
    expect(service.received(id)).toEqual([]);
  });

  it('accepts a push that is slow but within the deadline', async () => {
    const id = randomUUID();
    service.behave(id, { kind: 'slow', ms: 100, times: 1 });
    await sendTo(service.createSubscription(id));
    expect(service.received(id)).toHaveLength(1);
  });

  it('classifies a refused connection as network (transient)', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as net.AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const subscription = service.createSubscription(randomUUID());
    const err = await failureOf({ ...subscription, endpoint: `https://127.0.0.1:${port}/push/x` });
    expect(err).toMatchObject({ code: 'network', kind: 'transient' });
    expect((err.cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('classifies an untrusted certificate as provider_refused', async () => {
    const plain = new https.Agent();
    const untrusting = createPushProvider(options({ agent: plain }));
    const err = await failureOf(service.createSubscription(randomUUID()), untrusting);
    await untrusting.close();
    plain.destroy();
    expect(err).toMatchObject({ code: 'provider_refused', kind: 'transient' });
  });

  it.each([
    [
      'p256dh that is not base64url of a key',
      { p256dh: 'not-a-key', auth: 'AAAAAAAAAAAAAAAAAAAAAA' },
    ],
    ['p256dh off the curve', { p256dh: Buffer.alloc(65, 4).toString('base64url'), auth: 'x' }],
    ['auth shorter than 16 bytes', { p256dh: '', auth: 'c2hvcnQ' }],
  ])('classifies malformed keys (%s) as invalid_address without a request', async (_, keys) => {
    const id = randomUUID();
    const subscription = service.createSubscription(id);
    const p256dh = keys.p256dh === '' ? subscription.keys.p256dh : keys.p256dh;
    const err = await failureOf({ ...subscription, keys: { p256dh, auth: keys.auth } });
    expect(err).toMatchObject({ code: 'invalid_address', kind: 'permanent' });
    expect(service.requests(id)).toEqual([]);
  });
});

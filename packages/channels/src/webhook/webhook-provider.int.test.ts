import { randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import net from 'node:net';
import { createLogger, DeliveryError } from '@herald/core';
import { WebhookReceiver } from '@herald/testkit';
import type { ChannelMessage, ChannelProvider, SendContext } from '../provider';
import { createWebhookProvider } from './webhook-provider';
import { verifyWebhookSignature } from './webhook-signature';

const secret = 'whsec_test_provider_0123456789';
const acceptedAt = Date.parse('2026-03-01T12:00:00.000Z');
const log = createLogger('webhook-provider-test', 'silent');

function message(url: string, payload: unknown = { event: 'order.shipped', n: 1 }) {
  return {
    v: 1,
    channel: 'webhook',
    deliveryId: randomUUID(),
    notificationId: randomUUID(),
    lane: 'transactional',
    acceptedAt,
    to: { url },
    content: { payload },
  } as ChannelMessage<'webhook'>;
}

function contextOf(m: ChannelMessage<'webhook'>): SendContext {
  return {
    deliveryId: m.deliveryId,
    notificationId: m.notificationId,
    lane: m.lane,
    attempt: 1,
    log,
  };
}

async function sendTo(provider: ChannelProvider<'webhook'>, url: string) {
  const m = message(url);
  return provider.send(m, contextOf(m));
}

async function failure(promise: Promise<unknown>): Promise<DeliveryError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(DeliveryError);
    return err as DeliveryError;
  }
  throw new Error('expected the send to fail');
}

/** Counts client sockets created, and those that connected, while `fn` runs (node's own diagnostics channel). */
async function watchSockets<T>(fn: () => Promise<T>) {
  const seen = { created: 0, connected: 0 };
  const onSocket = (msg: unknown) => {
    seen.created++;
    (msg as { socket: net.Socket }).socket.once('connect', () => seen.connected++);
  };
  diagnostics.subscribe('net.client.socket', onSocket);
  try {
    return { result: await fn(), seen };
  } catch (err) {
    return { error: err, seen };
  } finally {
    diagnostics.unsubscribe('net.client.socket', onSocket);
  }
}

const path = () => `hooks/${randomUUID()}`;

describe('webhook provider against a real receiver', () => {
  const receiver = new WebhookReceiver({ secret });
  let open: ChannelProvider<'webhook'>;
  let guarded: ChannelProvider<'webhook'>;

  beforeAll(async () => {
    await receiver.start();
    open = createWebhookProvider({ signingSecret: secret, allowPrivate: true, timeoutMs: 5000 });
    guarded = createWebhookProvider({
      signingSecret: secret,
      allowPrivate: false,
      timeoutMs: 5000,
    });
  });

  afterAll(async () => {
    await open.close();
    await guarded.close();
    await receiver.stop();
  });

  it('POSTs the signed envelope with the Herald headers', async () => {
    const p = path();
    const payload = { event: 'invoice.paid', amount: 4200, tags: ['a', 'ü'], nested: { ok: true } };
    const m = message(receiver.url(p), payload);
    const before = Math.floor(Date.now() / 1000);

    const result = await open.send(m, contextOf(m));

    const [req] = receiver.requests(p);
    expect(receiver.received(p)).toBe(1);
    expect(req!.body).toEqual({
      id: m.deliveryId,
      notificationId: m.notificationId,
      createdAt: '2026-03-01T12:00:00.000Z',
      payload,
    });
    expect(req!.signatureValid).toBe(true);
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.headers['user-agent']).toBe('Herald-Webhooks/1');
    expect(req!.headers['x-herald-delivery-id']).toBe(m.deliveryId);
    expect(req!.headers['x-herald-notification-id']).toBe(m.notificationId);
    const timestamp = Number(req!.headers['x-herald-timestamp']);
    expect(timestamp).toBeGreaterThanOrEqual(before);
    expect(timestamp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(req!.headers['x-herald-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
    // The signature covers exactly the bytes received, and nothing else.
    const check = { secret, timestamp, signature: req!.headers['x-herald-signature'] as string };
    expect(verifyWebhookSignature({ ...check, body: req!.raw })).toBe(true);
    expect(verifyWebhookSignature({ ...check, body: JSON.stringify(req!.body, null, 1) })).toBe(
      false,
    );
    expect(
      verifyWebhookSignature({ ...check, secret: 'whsec_someone_else_0000', body: req!.raw }),
    ).toBe(false);
    expect(Number(req!.headers['content-length'])).toBe(Buffer.byteLength(req!.raw));
    expect(result.providerMessageId).toMatch(/^rcv-\d+$/);
  });

  it.each([200, 204])('treats %i as delivered', async (status) => {
    const p = path();
    receiver.behave(p, { kind: 'status', status });
    const result = await sendTo(open, receiver.url(p));
    expect(result.providerMessageId).toBeUndefined();
    expect(receiver.received(p)).toBe(1);
  });

  it('reuses keep-alive connections across sends (pooled, not one per send)', async () => {
    const provider = createWebhookProvider({
      signingSecret: secret,
      allowPrivate: true,
      timeoutMs: 5000,
    });
    const p = path();
    const { seen } = await watchSockets(async () => {
      for (let i = 0; i < 10; i++) await sendTo(provider, receiver.url(p));
    });
    await provider.close();
    expect(receiver.received(p)).toBe(10);
    // undici may open a second socket while the first is being released.
    expect(seen.created).toBeLessThanOrEqual(2);
  });

  it.each([400, 404, 410, 422])('%i is content_rejected, permanent', async (status) => {
    const p = path();
    receiver.behave(p, { kind: 'status', status });
    const err = await failure(sendTo(open, receiver.url(p)));
    expect(err.code).toBe('content_rejected');
    expect(err.kind).toBe('permanent');
    expect(err.message).toContain(String(status));
  });

  it('408 is a transient timeout', async () => {
    const p = path();
    receiver.behave(p, { kind: 'status', status: 408 });
    const err = await failure(sendTo(open, receiver.url(p)));
    expect(err.code).toBe('timeout');
    expect(err.kind).toBe('transient');
  });

  it('429 with Retry-After: 5 is rate_limited for 5 s, scoped to the recipient', async () => {
    const p = path();
    receiver.behave(p, { kind: 'status', status: 429, retryAfter: 5 });
    const err = await failure(sendTo(open, receiver.url(p)));
    expect(err.code).toBe('rate_limited');
    expect(err.kind).toBe('rate_limited');
    expect(err.retryAfterMs).toBe(5000);
    expect(err.scope).toBe('recipient');
  });

  it.each([500, 503])('%i is provider_unavailable, transient', async (status) => {
    const p = path();
    receiver.behave(p, { kind: 'status', status, times: 1 });
    const err = await failure(sendTo(open, receiver.url(p)));
    expect(err.code).toBe('provider_unavailable');
    expect(err.kind).toBe('transient');
    // The receiver recovers: the retry goes through.
    await expect(sendTo(open, receiver.url(p))).resolves.toBeDefined();
    expect(receiver.requests(p).map((r) => r.status)).toEqual([status, 200]);
  });

  it('failAll answers every path with one status until lifted', async () => {
    const p = path();
    receiver.failAll(503);
    try {
      expect((await failure(sendTo(open, receiver.url(p)))).code).toBe('provider_unavailable');
    } finally {
      receiver.failAll(undefined);
    }
    await expect(sendTo(open, receiver.url(p))).resolves.toBeDefined();
  });

  it('a receiver slower than the timeout is a transient timeout', async () => {
    const provider = createWebhookProvider({
      signingSecret: secret,
      allowPrivate: true,
      timeoutMs: 300,
    });
    const p = path();
    receiver.behave(p, { kind: 'slow', ms: 10_000 });
    const started = Date.now();
    const err = await failure(sendTo(provider, receiver.url(p)));
    await provider.close();
    expect(err.code).toBe('timeout');
    expect(err.kind).toBe('transient');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(receiver.received(p)).toBe(1);
  });

  it('a refused connection is a transient network error', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as net.AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await failure(sendTo(open, `http://127.0.0.1:${port}/x`));
    expect(err.code).toBe('network');
    expect(err.kind).toBe('transient');
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('does not follow a redirect: target_refused, and the target gets nothing', async () => {
    const from = path();
    const to = path();
    receiver.behave(from, { kind: 'redirect', location: receiver.url(to) });
    const err = await failure(sendTo(open, receiver.url(from)));
    expect(err.code).toBe('target_refused');
    expect(err.kind).toBe('permanent');
    expect(err.message).toMatch(/redirects are not followed/);
    expect(receiver.received(from)).toBe(1);
    expect(receiver.received(to)).toBe(0);
  });

  describe('SSRF guard (allowPrivate: false)', () => {
    const loopbackTargets = () => [
      `http://127.0.0.1:${receiver.port}/x`,
      `http://[::1]:${receiver.port}/x`,
      `http://[::ffff:127.0.0.1]:${receiver.port}/x`,
      `http://0.0.0.0:${receiver.port}/`,
      `http://2130706433:${receiver.port}/x`,
    ];

    it('refuses literal private addresses before opening any socket', async () => {
      const targets = [
        ...loopbackTargets(),
        'http://10.0.0.1/x',
        'http://169.254.169.254/latest/meta-data',
        'http://[fd00::1]/x',
      ];
      const total = receiver.total;
      for (const url of targets) {
        const { error, seen } = await watchSockets(() => sendTo(guarded, url));
        expect({ url, code: (error as DeliveryError).code }).toEqual({
          url,
          code: 'target_refused',
        });
        expect((error as DeliveryError).kind).toBe('permanent');
        expect({ url, ...seen }).toEqual({ url, created: 0, connected: 0 });
      }
      expect(receiver.total).toBe(total);
    });

    it('refuses a name that resolves to loopback (localhost) without connecting', async () => {
      const total = receiver.total;
      const { error, seen } = await watchSockets(() =>
        sendTo(guarded, `http://localhost:${receiver.port}/x`),
      );
      expect((error as DeliveryError).code).toBe('target_refused');
      expect((error as DeliveryError).message).toMatch(/loopback/);
      expect(seen.connected).toBe(0);
      expect(receiver.total).toBe(total);
    });

    it('refuses non-http schemes and credentials in the URL', async () => {
      for (const url of ['ftp://example.com/x', `http://user:pass@127.0.0.1:${receiver.port}/x`]) {
        expect((await failure(sendTo(open, url))).code).toBe('target_refused');
      }
    });

    it('with allowPrivate: true the same loopback URLs are delivered', async () => {
      const p = path();
      await sendTo(open, `http://127.0.0.1:${receiver.port}/${p}`);
      await sendTo(open, `http://localhost:${receiver.port}/${p}`);
      expect(receiver.received(p)).toBe(2);
      expect(receiver.requests(p).every((r) => r.signatureValid)).toBe(true);
    });
  });

  it('after close, sends fail without connecting', async () => {
    const provider = createWebhookProvider({
      signingSecret: secret,
      allowPrivate: true,
      timeoutMs: 5000,
    });
    await provider.close();
    const err = await failure(sendTo(provider, receiver.url(path())));
    expect(err.kind).toBe('transient');
  });
});

describe('WebhookReceiver', () => {
  it('counts only, without verifying, when asked (benchmark sink)', async () => {
    const sink = await new WebhookReceiver({ secret, verify: false, record: 'count' }).start();
    const provider = createWebhookProvider({
      signingSecret: 'whsec_not_the_sinks_secret',
      allowPrivate: true,
      timeoutMs: 5000,
    });
    try {
      await Promise.all(Array.from({ length: 20 }, () => sendTo(provider, sink.url('bench'))));
      await expect(sink.waitFor('bench', 20)).resolves.toEqual([]);
      expect(sink.total).toBe(20);
      expect(sink.invalidSignatures).toBe(0);
      expect(() => sink.requests('bench')).toThrow(/only counts/);
    } finally {
      await provider.close();
      await sink.stop();
    }
  });

  it('flags requests signed with another secret', async () => {
    const receiver = await new WebhookReceiver({ secret }).start();
    const provider = createWebhookProvider({
      signingSecret: 'whsec_not_the_receivers_secret',
      allowPrivate: true,
      timeoutMs: 5000,
    });
    try {
      await sendTo(provider, receiver.url('/a'));
      const [req] = await receiver.waitFor('a', 1);
      expect(req!.signatureValid).toBe(false);
      expect(receiver.invalidSignatures).toBe(1);
    } finally {
      await provider.close();
      await receiver.stop();
    }
  });
});

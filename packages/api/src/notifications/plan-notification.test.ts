import { notificationRequestSchema } from './notification-request';
import { planNotification } from './plan-notification';

let n = 0;
const ctx = (extra: Partial<Parameters<typeof planNotification>[1]> = {}) => ({
  owner: 'svc',
  now: new Date('2026-11-22T10:00:00Z'),
  newId: () => `00000000-0000-7000-8000-${String(++n).padStart(12, '0')}`,
  ...extra,
});

const content = {
  email: { subject: 's', text: 't' },
  push: { title: 'T', body: 'B' },
  telegram: { text: 'hi' },
  webhook: { payload: { a: 1 } },
};

describe('planNotification', () => {
  it('queues one job per channel with everything the worker needs', () => {
    const request = notificationRequestSchema.parse({
      to: { email: 'a@example.test', webhookUrl: 'https://hooks.example.test/x' },
      channels: ['email', 'webhook'],
      content: { email: content.email, webhook: content.webhook },
    });
    const plan = planNotification(request, ctx());
    expect(plan.response.status).toBe('queued');
    expect(plan.outbox.map((o) => o.queue)).toEqual([
      'email.transactional',
      'webhook.transactional',
    ]);
    expect(plan.outbox[0]!.payload).toMatchObject({
      v: 1,
      channel: 'email',
      lane: 'transactional',
      notificationId: plan.notification.id,
      to: { email: 'a@example.test' },
      content: content.email,
      acceptedAt: Date.parse('2026-11-22T10:00:00Z'),
    });
  });

  it('with fallback, queues the first deliverable channel and keeps the rest pending', () => {
    const request = notificationRequestSchema.parse({
      to: { email: 'a@example.test', telegramChatId: '42' },
      channels: ['push', 'telegram', 'email'],
      strategy: 'fallback',
      content: { push: content.push, telegram: content.telegram, email: content.email },
    });
    const plan = planNotification(request, ctx());
    expect(plan.notification.deliveries.map((d) => [d.channel, d.status])).toEqual([
      ['push', 'skipped'],
      ['telegram', 'queued'],
      ['email', 'pending'],
    ]);
    expect(plan.outbox.map((o) => o.queue)).toEqual(['telegram.transactional']);
    // The queued job carries the rest of the chain, in order.
    const head = plan.outbox[0]!.payload as {
      fallback: { channel: string; deliveryId: string; to: unknown }[];
    };
    expect(head.fallback.map((f) => [f.channel, f.deliveryId, f.to])).toEqual([
      ['email', plan.notification.deliveries[2]!.id, { email: 'a@example.test' }],
    ]);
  });

  it('schedules a future sendAt: the job waits in the outbox until then', () => {
    const request = notificationRequestSchema.parse({
      to: { email: 'a@example.test' },
      channels: ['email'],
      content: { email: content.email },
      sendAt: '2026-12-01T09:00:00Z',
    });
    const plan = planNotification(request, ctx());
    expect(plan.response.status).toBe('scheduled');
    expect(plan.outbox).toHaveLength(1);
    expect(plan.outbox[0]!.availableAt).toEqual(new Date('2026-12-01T09:00:00Z'));
    expect(plan.notification.dispatched).toBe(false);
  });

  it('honours recipient preferences and unreachable channels with a reason', () => {
    const request = notificationRequestSchema.parse({
      to: { recipientId: 'u-1' },
      channels: ['email', 'telegram', 'push'],
      category: 'marketing',
      content: { email: content.email, telegram: content.telegram, push: content.push },
    });
    const plan = planNotification(
      request,
      ctx({
        recipient: {
          id: 'u-1',
          email: 'a@example.test',
          telegramChatId: '42',
          pushSubscriptions: [
            { endpoint: 'https://push.example.test/1', keys: { p256dh: 'p', auth: 'a' } },
            { endpoint: 'https://push.example.test/2', keys: { p256dh: 'p', auth: 'a' } },
          ],
          preferences: { channels: { email: false } },
          unreachable: { telegram: { reason: 'blocked by user' } },
        },
      }),
    );
    expect(plan.notification.deliveries.map((d) => [d.channel, d.status, d.reason])).toEqual([
      ['email', 'skipped', 'recipient opted out of email'],
      ['telegram', 'skipped', 'telegram address unreachable: blocked by user'],
      ['push', 'queued', undefined],
      ['push', 'queued', undefined],
    ]);
    const optedOut = planNotification(
      request,
      ctx({
        recipient: {
          id: 'u-1',
          email: 'a@example.test',
          pushSubscriptions: [],
          preferences: { categories: { marketing: false } },
          unreachable: {},
        },
      }),
    );
    expect(optedOut.response.status).toBe('skipped');
    expect(
      optedOut.notification.deliveries.every(
        (d) => d.reason === 'recipient opted out of category marketing',
      ),
    ).toBe(true);
  });
});

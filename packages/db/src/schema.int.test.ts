/**
 * schema.prisma and the SQL migrations must describe the same database:
 * `prisma migrate diff` cannot run offline, so this proves it by writing and
 * reading every field of every model through the generated client against a
 * database built only from the SQL, and by comparing columns and enum labels.
 */
import { createTestDatabase, type TestDatabase } from '@herald/testkit';
import { v7 as uuid } from 'uuid';
import { Prisma } from './generated/prisma/client';
import * as Enums from './generated/prisma/enums';

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const TABLE_OF_MODEL: Record<string, string> = {
  Recipient: 'recipients',
  PushSubscription: 'push_subscriptions',
  Template: 'templates',
  Notification: 'notifications',
  Delivery: 'deliveries',
  Attempt: 'attempts',
  Campaign: 'campaigns',
  IdempotencyKey: 'idempotency_keys',
  OutboxEntry: 'outbox',
  CampaignOutboxEntry: 'campaign_outbox',
  AuditEvent: 'audit_events',
};

const ENUM_TYPES: Record<string, Record<string, string>> = {
  channel: Enums.Channel,
  lane: Enums.Lane,
  strategy: Enums.Strategy,
  delivery_status: Enums.DeliveryStatus,
  attempt_outcome: Enums.AttemptOutcome,
  campaign_status: Enums.CampaignStatus,
};

describe('schema.prisma agrees with the SQL migrations', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(() => t.drop());

  it('has exactly one table per model, with one column per scalar field', async () => {
    expect(Object.keys(TABLE_OF_MODEL).sort()).toEqual(Object.values(Prisma.ModelName).sort());
    const { rows } = await t.db.pool.query<{ table_name: string; column_name: string }>(
      `SELECT table_name, column_name FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'`,
    );
    const tables = new Set(rows.map((r) => r.table_name));
    expect([...tables].sort()).toEqual(Object.values(TABLE_OF_MODEL).sort());
    for (const [model, table] of Object.entries(TABLE_OF_MODEL)) {
      const fields = Object.values(
        (Prisma as unknown as Record<string, Record<string, string>>)[`${model}ScalarFieldEnum`]!,
      );
      const columns = rows.filter((r) => r.table_name === table).map((r) => r.column_name);
      expect({ model, columns: columns.sort() }).toEqual({
        model,
        columns: fields.map(snake).sort(),
      });
    }
  });

  it('has the same enum labels', async () => {
    const { rows } = await t.db.pool.query<{ typname: string; labels: string[] }>(
      `SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text[] AS labels
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname`,
    );
    const inDb = Object.fromEntries(rows.map((r) => [r.typname, r.labels]));
    expect(inDb).toEqual(
      Object.fromEntries(Object.entries(ENUM_TYPES).map(([k, v]) => [k, Object.values(v)])),
    );
  });

  it('writes and reads every field of every model through the generated client', async () => {
    const p = t.db.prisma;
    const at = new Date('2026-11-22T10:00:00.123Z');

    const recipient = await p.recipient.create({
      data: {
        id: 'u-1',
        email: 'ada@example.test',
        telegramChatId: '12345',
        webhookUrl: 'https://hooks.example.test/u1',
        locale: 'fr',
        timezone: 'Europe/Paris',
        tags: ['beta', 'vip'],
        preferences: { channels: { email: true }, categories: { marketing: false } },
        unreachable: { telegram: { at: at.toISOString(), reason: 'blocked' } },
      },
    });
    expect(await p.recipient.findUniqueOrThrow({ where: { id: 'u-1' } })).toEqual(recipient);

    const sub = await p.pushSubscription.create({
      data: {
        id: uuid(),
        recipientId: 'u-1',
        endpoint: 'https://push.example.test/1',
        p256dh: 'k',
        auth: 'a',
        lastUsedAt: at,
      },
    });
    expect(
      await p.pushSubscription.findUniqueOrThrow({ where: { endpoint: sub.endpoint } }),
    ).toEqual(sub);

    const template = await p.template.create({
      data: {
        key: 'welcome',
        category: 'onboarding',
        channels: { email: { subject: 'Hi {{name}}', text: 'Hello' } },
        locales: { fr: { email: { subject: 'Salut', text: 'Bonjour' } } },
        version: 2,
      },
    });
    expect(await p.template.findUniqueOrThrow({ where: { key: 'welcome' } })).toEqual(template);

    const campaign = await p.campaign.create({
      data: {
        id: uuid(),
        owner: 'marketing',
        name: 'Launch',
        templateKey: 'welcome',
        content: { email: { subject: 's', text: 't' } },
        channels: ['email', 'push'],
        audience: { tag: 'beta' },
        data: { product: 'Herald' },
        category: 'marketing',
        status: 'scheduled',
        sendAt: at,
        throttlePerSecond: 100,
        cursor: 'u-0',
        pacedUntil: at,
        expandedAt: at,
        total: 10,
        sent: 2,
        failed: 1,
        skipped: 1,
        cancelled: 1,
        startedAt: at,
        completedAt: at,
      },
    });
    expect(await p.campaign.findUniqueOrThrow({ where: { id: campaign.id } })).toEqual(campaign);

    const notification = await p.notification.create({
      data: {
        id: uuid(),
        owner: 'billing',
        lane: 'campaign',
        strategy: 'fallback',
        channels: ['push', 'email'],
        recipientId: 'u-1',
        campaignId: campaign.id,
        to: { email: 'ada@example.test' },
        templateKey: 'welcome',
        content: { email: { subject: 's', text: 't' } },
        data: { name: 'Ada' },
        metadata: { orderId: 'A-1' },
        category: 'marketing',
        sendAt: at,
        dispatchedAt: at,
        cancelledAt: at,
      },
    });
    expect(await p.notification.findUniqueOrThrow({ where: { id: notification.id } })).toEqual(
      notification,
    );

    const statuses = Object.values(Enums.DeliveryStatus);
    const deliveries = [];
    for (const [i, status] of statuses.entries()) {
      deliveries.push(
        await p.delivery.create({
          data: {
            id: uuid(),
            notificationId: notification.id,
            campaignId: campaign.id,
            recipientId: 'u-1',
            channel: Object.values(Enums.Channel)[i % 4]!,
            lane: 'campaign',
            position: i,
            status,
            reason: `because ${status}`,
            attemptsCount: i,
            providerMessageId: `m-${i}`,
            queuedAt: at,
            sentAt: at,
          },
        }),
      );
    }
    const readBack = await p.delivery.findMany({
      where: { notificationId: notification.id },
      orderBy: { position: 'asc' },
    });
    expect(readBack).toEqual(deliveries);

    for (const [i, outcome] of Object.values(Enums.AttemptOutcome).entries()) {
      const attempt = await p.attempt.create({
        data: {
          deliveryId: deliveries[0]!.id,
          attempt: i + 1,
          at,
          outcome,
          errorCode: 'timeout',
          error: 'slow',
          providerMessageId: 'm',
          durationMs: 12,
        },
      });
      expect(typeof attempt.id).toBe('bigint');
      expect(await p.attempt.findUniqueOrThrow({ where: { id: attempt.id } })).toEqual(attempt);
    }

    const key = await p.idempotencyKey.create({
      data: {
        owner: 'billing',
        key: 'k-1',
        requestHash: 'h',
        notificationId: notification.id,
        response: { id: notification.id },
      },
    });
    expect(
      await p.idempotencyKey.findUniqueOrThrow({
        where: { owner_key: { owner: 'billing', key: 'k-1' } },
      }),
    ).toEqual(key);

    const entry = await p.outboxEntry.create({
      data: {
        deliveryId: deliveries[0]!.id,
        queue: 'email.transactional',
        jobId: deliveries[0]!.id,
        payload: { v: 1 },
        availableAt: at,
        claimedUntil: at,
      },
    });
    expect(await p.outboxEntry.findUniqueOrThrow({ where: { id: entry.id } })).toEqual(entry);

    const page = await p.campaignOutboxEntry.create({
      data: {
        campaignId: campaign.id,
        jobs: [{ jobId: 'b-1', queue: 'email.campaign', at: 1, deliveryIds: ['d'], data: {} }],
        claimedUntil: at,
      },
    });
    expect(await p.campaignOutboxEntry.findUniqueOrThrow({ where: { id: page.id } })).toEqual(page);

    const event = await p.auditEvent.create({
      data: {
        actor: 'ops',
        action: 'dlq.redrive',
        entityType: 'delivery',
        entityId: deliveries[0]!.id,
        details: { n: 1 },
      },
    });
    expect(await p.auditEvent.findUniqueOrThrow({ where: { id: event.id } })).toEqual(event);

    // Relations and cascades as the schema declares them.
    await p.recipient.delete({ where: { id: 'u-1' } });
    expect(await p.pushSubscription.count()).toBe(0);
    expect(
      (await p.notification.findUniqueOrThrow({ where: { id: notification.id } })).recipientId,
    ).toBeNull();
    expect(await p.delivery.count({ where: { recipientId: { not: null } } })).toBe(0);
    await p.notification.delete({ where: { id: notification.id } });
    expect(await p.delivery.count()).toBe(0);
    expect(await p.attempt.count()).toBe(0);
    expect(await p.outboxEntry.count()).toBe(0);
    await p.campaign.delete({ where: { id: campaign.id } });
    expect(await p.campaignOutboxEntry.count()).toBe(0);
  });
});

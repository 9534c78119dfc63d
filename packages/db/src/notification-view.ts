import type { PrismaClient } from './generated/prisma/client';
import { summarizeStatus, type AttemptOutcome, type DeliveryStatus } from './statuses';

export interface AttemptView {
  attempt: number;
  at: string;
  outcome: AttemptOutcome;
  errorCode?: string;
  error?: string;
  providerMessageId?: string;
  durationMs: number;
}

export interface DeliveryView {
  id: string;
  channel: string;
  lane: string;
  status: DeliveryStatus;
  reason?: string;
  attemptsCount: number;
  providerMessageId?: string;
  queuedAt?: string;
  sentAt?: string;
  updatedAt: string;
  attempts: AttemptView[];
}

export interface NotificationView {
  id: string;
  /** The `sub` of the token that sent it. */
  owner: string;
  status: DeliveryStatus;
  lane: string;
  strategy: string;
  channels: string[];
  recipientId?: string;
  campaignId?: string;
  templateKey?: string;
  metadata?: unknown;
  createdAt: string;
  sendAt?: string;
  dispatchedAt?: string;
  cancelledAt?: string;
  deliveries: DeliveryView[];
}

const iso = (d: Date | null | undefined) => d?.toISOString();
const opt = <T>(v: T | null) => v ?? undefined;

/** A notification with every delivery and attempt, as the API shows it. */
export async function getNotificationView(
  prisma: PrismaClient,
  id: string,
): Promise<NotificationView | undefined> {
  const n = await prisma.notification.findUnique({
    where: { id },
    include: {
      deliveries: {
        orderBy: { position: 'asc' },
        // As they happened: a redriven delivery counts its fresh attempts from 1 again.
        include: { attempts: { orderBy: [{ at: 'asc' }, { id: 'asc' }] } },
      },
    },
  });
  if (!n) return undefined;
  return {
    id: n.id,
    owner: n.owner,
    status: summarizeStatus(n.deliveries.map((d) => d.status)),
    lane: n.lane,
    strategy: n.strategy,
    channels: n.channels,
    recipientId: opt(n.recipientId),
    campaignId: opt(n.campaignId),
    templateKey: opt(n.templateKey),
    metadata: opt(n.metadata),
    createdAt: n.createdAt.toISOString(),
    sendAt: iso(n.sendAt),
    dispatchedAt: iso(n.dispatchedAt),
    cancelledAt: iso(n.cancelledAt),
    deliveries: n.deliveries.map((d) => ({
      id: d.id,
      channel: d.channel,
      lane: d.lane,
      status: d.status,
      reason: opt(d.reason),
      attemptsCount: d.attemptsCount,
      providerMessageId: opt(d.providerMessageId),
      queuedAt: iso(d.queuedAt),
      sentAt: iso(d.sentAt),
      updatedAt: d.updatedAt.toISOString(),
      attempts: d.attempts.map((a) => ({
        attempt: a.attempt,
        at: a.at.toISOString(),
        outcome: a.outcome,
        errorCode: opt(a.errorCode),
        error: opt(a.error),
        providerMessageId: opt(a.providerMessageId),
        durationMs: a.durationMs,
      })),
    })),
  };
}

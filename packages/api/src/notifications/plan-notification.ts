import {
  JOB_PAYLOAD_VERSION,
  laneQueueName,
  resolveAddresses,
  type Channel,
  type Lane,
} from '@herald/core';
import {
  summarizeStatus,
  type DeliveryStatus,
  type NewDelivery,
  type NewNotification,
  type UngroupedOutboxJob,
  type RecipientAddresses,
} from '@herald/db';
import type { NotificationRequest } from './notification-request';

export interface AcceptedResponse {
  id: string;
  status: DeliveryStatus;
  deliveries: { id: string; channel: Channel; status: DeliveryStatus; reason?: string }[];
}

export interface PlannedNotification {
  notification: NewNotification;
  outbox: UngroupedOutboxJob[];
  response: AcceptedResponse;
}

export interface PlanContext {
  owner: string;
  now: Date;
  /** The stored recipient, when the request names one. */
  recipient?: RecipientAddresses;
  newId: () => string;
}

/**
 * Turns a validated request into rows and jobs: one delivery per channel and
 * address (a recipient's every push subscription), skipped ones with their
 * reason. With `fallback`, only the first deliverable channel is queued; the
 * others wait as `pending`.
 */
export function planNotification(
  request: NotificationRequest,
  ctx: PlanContext,
): PlannedNotification {
  const id = ctx.newId();
  const lane: Lane = request.lane;
  const sendAt = request.sendAt ? new Date(request.sendAt) : undefined;
  const scheduled = sendAt !== undefined && sendAt.getTime() > ctx.now.getTime();
  const deliveries: NewDelivery[] = [];
  const sendable: { delivery: NewDelivery; payload: Record<string, unknown> }[] = [];

  request.channels.forEach((channel, position) => {
    const addresses = resolveAddresses(channel, {
      inline: request.to,
      recipient: ctx.recipient,
      category: request.category,
    });
    if ('skip' in addresses) {
      deliveries.push({
        id: ctx.newId(),
        channel,
        lane,
        position,
        status: 'skipped',
        reason: addresses.skip,
      });
      return;
    }
    // Fallback tries one address per channel (a recipient's newest push subscription).
    const targets = request.strategy === 'fallback' ? addresses.slice(0, 1) : addresses;
    for (const to of targets) {
      const delivery: NewDelivery = { id: ctx.newId(), channel, lane, position, status: 'queued' };
      deliveries.push(delivery);
      sendable.push({
        delivery,
        payload: {
          v: JOB_PAYLOAD_VERSION,
          deliveryId: delivery.id,
          notificationId: id,
          ...(request.to.recipientId !== undefined ? { recipientId: request.to.recipientId } : {}),
          lane,
          // Latency is measured from when it was due: acceptance, or its sendAt.
          acceptedAt: scheduled && sendAt ? sendAt.getTime() : ctx.now.getTime(),
          channel,
          to,
          // A stored template is rendered by the worker (which caches it per version).
          ...(request.template !== undefined
            ? {
                template: {
                  key: request.template,
                  ...(ctx.recipient?.locale ? { locale: ctx.recipient.locale } : {}),
                },
                data: request.data ?? {},
              }
            : { content: request.content?.[channel] }),
        },
      });
    }
  });

  // "all": every address gets a job. "fallback": the first gets a job carrying
  // the others, in order; they wait as pending until it fails for good.
  const heads = request.strategy === 'fallback' ? sendable.slice(0, 1) : sendable;
  if (request.strategy === 'fallback' && sendable.length > 1) {
    sendable[0]!.payload.fallback = sendable.slice(1).map((s) => s.payload);
    for (const s of sendable.slice(1)) s.delivery.status = 'pending';
  }
  const outbox: UngroupedOutboxJob[] = heads.map(({ delivery, payload }) => {
    delivery.status = scheduled ? 'scheduled' : 'queued';
    return {
      deliveryId: delivery.id,
      queue: laneQueueName(delivery.channel, lane),
      payload,
      ...(scheduled ? { availableAt: sendAt } : {}),
    };
  });

  const notification: NewNotification = {
    id,
    owner: ctx.owner,
    lane,
    strategy: request.strategy,
    channels: request.channels,
    recipientId: request.to.recipientId,
    // Inline addresses are kept for redrive and audit; a stored recipient is referenced instead.
    to: request.to.recipientId === undefined ? request.to : undefined,
    templateKey: request.template,
    content: request.content,
    data: request.data,
    metadata: request.metadata,
    category: request.category,
    sendAt,
    dispatched: !scheduled,
    deliveries,
  };
  return {
    notification,
    outbox,
    response: {
      id,
      status: summarizeStatus(deliveries.map((d) => d.status)),
      deliveries: deliveries.map((d) => ({
        id: d.id,
        channel: d.channel,
        status: d.status,
        ...(d.reason ? { reason: d.reason } : {}),
      })),
    },
  };
}

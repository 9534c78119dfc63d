import type { ChannelMessage } from '../provider';

/** The JSON body of every webhook POST. */
export interface WebhookEnvelope {
  /** The delivery id (also in X-Herald-Delivery-Id): the same on every retry, for de-duplication. */
  id: string;
  notificationId: string;
  /** When Herald accepted the notification (ISO 8601, UTC). */
  createdAt: string;
  /** The webhook content's `payload`, as given. */
  payload: unknown;
}

export function buildWebhookEnvelope(message: ChannelMessage<'webhook'>): WebhookEnvelope {
  return {
    id: message.deliveryId,
    notificationId: message.notificationId,
    createdAt: new Date(message.acceptedAt).toISOString(),
    payload: message.content.payload,
  };
}

import type { ChannelMessage, ChannelProvider, SendResult } from '../provider';
import { classifyWebhookError, classifyWebhookStatus } from './classify-webhook-error';
import { buildWebhookEnvelope } from './webhook-envelope';
import { createWebhookHttpClient, type WebhookResponse } from './webhook-http-client';
import {
  WEBHOOK_DELIVERY_ID_HEADER,
  WEBHOOK_NOTIFICATION_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
  WEBHOOK_USER_AGENT,
  signWebhook,
} from './webhook-signature';

export interface WebhookProviderOptions {
  /** HMAC key for X-Herald-Signature (WEBHOOK_SIGNING_SECRET). */
  signingSecret: string;
  /** Allow private, loopback and link-local targets (WEBHOOK_ALLOW_PRIVATE; never in production). */
  allowPrivate: boolean;
  /** Deadline for one delivery: connect, request, response (WEBHOOK_TIMEOUT_MS). */
  timeoutMs: number;
  /** Keep-alive sockets per receiver origin; unlimited when absent. */
  connections?: number;
}

const MAX_PROVIDER_MESSAGE_ID = 256;

function requestIdOf(response: WebhookResponse): string | undefined {
  const value = response.headers['x-request-id'];
  const id = Array.isArray(value) ? value[0] : value;
  return id ? id.slice(0, MAX_PROVIDER_MESSAGE_ID) : undefined;
}

/**
 * Signs and POSTs the webhook envelope. One keep-alive HTTP client per
 * provider, reused by every send and released by close().
 */
export function createWebhookProvider(options: WebhookProviderOptions): ChannelProvider<'webhook'> {
  const client = createWebhookHttpClient(options);
  return {
    channel: 'webhook',
    async send(message: ChannelMessage<'webhook'>): Promise<SendResult> {
      // Serialised once: the signature covers exactly the bytes sent (UTF-8).
      const body = JSON.stringify(buildWebhookEnvelope(message));
      const timestamp = String(Math.floor(Date.now() / 1000));
      let response: WebhookResponse;
      try {
        response = await client.post(
          message.to.url,
          {
            'content-type': 'application/json',
            'user-agent': WEBHOOK_USER_AGENT,
            [WEBHOOK_DELIVERY_ID_HEADER]: message.deliveryId,
            [WEBHOOK_NOTIFICATION_ID_HEADER]: message.notificationId,
            [WEBHOOK_TIMESTAMP_HEADER]: timestamp,
            [WEBHOOK_SIGNATURE_HEADER]: signWebhook(options.signingSecret, timestamp, body),
          },
          body,
        );
      } catch (err) {
        throw classifyWebhookError(err);
      }
      const refusal = classifyWebhookStatus(response.status, response.headers);
      if (refusal) throw refusal;
      return { providerMessageId: requestIdOf(response) };
    },
    close: () => client.close(),
  };
}

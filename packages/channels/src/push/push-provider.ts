import { createECDH, createHash } from 'node:crypto';
import https from 'node:https';
import { DeliveryError, type Lane, type PushContent } from '@herald/core';
import { getVapidHeaders, sendNotification, type Urgency } from 'web-push';
import type { ChannelMessage, ChannelProvider, SendContext, SendResult } from '../provider';
import { classifyPushError } from './classify-push-error';
import { PushTimeoutError } from './push-timeout-error';
import { subscriptionKeysProblem } from './subscription-keys';

export interface VapidDetails {
  /** base64url, 65-byte uncompressed P-256 point (web-push generateVAPIDKeys). */
  publicKey: string;
  /** base64url, 32 bytes. */
  privateKey: string;
  /** mailto: or https: contact the push service may use. */
  subject: string;
}

export interface PushProviderOptions {
  vapid: VapidDetails;
  /** How long the push service keeps a message for an offline device, per lane. */
  ttlSeconds: Record<Lane, number>;
  /** Deadline for the push service's answer. */
  timeoutMs: number;
  /**
   * TLS agent for the push services. By default the provider makes a
   * keep-alive agent and destroys it in close(); an agent given here stays
   * the caller's to destroy.
   */
  agent?: https.Agent;
}

/** What a service worker receives (the decrypted push message body, as JSON). */
export interface PushPayload extends PushContent {
  deliveryId: string;
}

/** Transactional messages should wake the device now; campaigns can wait for a good moment. */
const URGENCY_BY_LANE: Record<Lane, Urgency> = { transactional: 'high', campaign: 'normal' };

/** Fails at startup, not per message, when the VAPID keys are unusable or do not belong together. */
function assertVapidDetails(vapid: VapidDetails): void {
  getVapidHeaders(
    'https://push.invalid',
    vapid.subject,
    vapid.publicKey,
    vapid.privateKey,
    'aes128gcm',
  );
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(Buffer.from(vapid.privateKey, 'base64url'));
  if (!ecdh.getPublicKey().equals(Buffer.from(vapid.publicKey, 'base64url'))) {
    throw new Error('the VAPID private key does not belong to the VAPID public key');
  }
}

/**
 * A retry of the same delivery replaces its earlier copy if that is still
 * waiting at the push service (RFC 8030 §5.4), so at-least-once delivery
 * does not show a notification twice. At most 32 base64url characters.
 */
function topicFor(deliveryId: string): string {
  return createHash('sha256').update(deliveryId).digest('base64url').slice(0, 32);
}

function withDeadline<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PushTimeoutError(timeoutMs)), timeoutMs);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Web Push (RFC 8030) through web-push: aes128gcm encryption (RFC 8291) and
 * VAPID (RFC 8292). Connections to each push service are kept alive and
 * reused across messages.
 */
export function createPushProvider(options: PushProviderOptions): ChannelProvider<'push'> {
  assertVapidDetails(options.vapid);
  const ownAgent = options.agent === undefined;
  const agent = options.agent ?? new https.Agent({ keepAlive: true });
  return {
    channel: 'push',
    async send(message: ChannelMessage<'push'>, ctx: SendContext): Promise<SendResult> {
      const { subscription } = message.to;
      const keysProblem = subscriptionKeysProblem(subscription.keys);
      if (keysProblem !== undefined) {
        throw new DeliveryError('invalid_address', `push subscription keys: ${keysProblem}`);
      }
      const { title, body, icon, badge, url } = message.content;
      const payload: PushPayload = { title, body, icon, badge, url, deliveryId: ctx.deliveryId };
      try {
        const answer = await withDeadline(
          sendNotification(subscription, JSON.stringify(payload), {
            vapidDetails: options.vapid,
            TTL: options.ttlSeconds[ctx.lane],
            urgency: URGENCY_BY_LANE[ctx.lane],
            topic: topicFor(ctx.deliveryId),
            contentEncoding: 'aes128gcm',
            // web-push's socket timeout destroys a hung request just after our deadline.
            timeout: options.timeoutMs,
            agent,
          }),
          options.timeoutMs,
        );
        return { providerMessageId: answer.headers['location'] };
      } catch (err) {
        throw classifyPushError(err);
      }
    },
    async close() {
      if (ownAgent) agent.destroy();
    },
  };
}

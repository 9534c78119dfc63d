/**
 * Webhook signatures, version 1.
 *
 * Every webhook POST carries:
 *
 *   X-Herald-Timestamp: <unix time in seconds, decimal digits>
 *   X-Herald-Signature: v1=<lowercase hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 *
 * The signed string is the timestamp header value, a full stop, and the
 * request body exactly as received (the bytes, before any JSON parsing or
 * re-serialisation). The key is the signing secret (WEBHOOK_SIGNING_SECRET) as
 * UTF-8 bytes.
 *
 * A receiver verifies by recomputing the HMAC over the raw body, comparing in
 * constant time, and rejecting timestamps more than 300 seconds from its own
 * clock (either way), which limits replays. `verifyWebhookSignature` does
 * exactly that.
 *
 * Example: secret "whsec_test_0123456789", timestamp 1700000000, body {"a":1}
 * signs the string `1700000000.{"a":1}` and sends
 *   X-Herald-Signature: v1=d45143ed412aa9d672e3e06cc6753ced7e0e5a1757b1109ff599ba71790e646d
 * (the value openssl gives; webhook-signature.test.ts checks it).
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

export const WEBHOOK_SIGNATURE_HEADER = 'X-Herald-Signature';
export const WEBHOOK_TIMESTAMP_HEADER = 'X-Herald-Timestamp';
export const WEBHOOK_DELIVERY_ID_HEADER = 'X-Herald-Delivery-Id';
export const WEBHOOK_NOTIFICATION_ID_HEADER = 'X-Herald-Notification-Id';
export const WEBHOOK_USER_AGENT = 'Herald-Webhooks/1';
export const WEBHOOK_SIGNATURE_TOLERANCE_SECONDS = 300;

const SIGNATURE_PATTERN = /^v1=([0-9a-f]{64})$/;
const TIMESTAMP_PATTERN = /^\d{1,15}$/;

/** Key objects for the secrets in use: importing a key once, not per message. */
const keys = new Map<string, KeyObject>();

function keyFor(secret: string): KeyObject {
  let key = keys.get(secret);
  if (!key) {
    key = createSecretKey(Buffer.from(secret, 'utf8'));
    if (keys.size > 16) keys.clear();
    keys.set(secret, key);
  }
  return key;
}

function hmacHex(secret: string, timestamp: string, body: string | Uint8Array): string {
  return createHmac('sha256', keyFor(secret)).update(`${timestamp}.`).update(body).digest('hex');
}

/** The X-Herald-Signature header value (`v1=<hex>`) for a body sent at `timestamp` (unix seconds). */
export function signWebhook(
  secret: string,
  timestamp: number | string,
  body: string | Uint8Array,
): string {
  return `v1=${hmacHex(secret, String(timestamp), body)}`;
}

export interface VerifyWebhookSignatureInput {
  secret: string;
  /** The X-Herald-Timestamp header value. */
  timestamp: string | number | undefined;
  /** The X-Herald-Signature header value. */
  signature: string | undefined;
  /** The raw request body, byte for byte. */
  body: string | Uint8Array;
  /** How far the timestamp may be from `now`, either way. */
  toleranceSeconds?: number;
  /** The receiver's clock; defaults to the current time. */
  now?: Date;
}

/** True when the signature matches the body and the timestamp is fresh. Never throws. */
export function verifyWebhookSignature(input: VerifyWebhookSignatureInput): boolean {
  const timestamp = input.timestamp === undefined ? '' : String(input.timestamp);
  const match = SIGNATURE_PATTERN.exec(input.signature ?? '');
  if (!match || !TIMESTAMP_PATTERN.test(timestamp)) return false;
  const nowSeconds = Math.floor((input.now ?? new Date()).getTime() / 1000);
  const tolerance = input.toleranceSeconds ?? WEBHOOK_SIGNATURE_TOLERANCE_SECONDS;
  if (Math.abs(nowSeconds - Number(timestamp)) > tolerance) return false;
  const expected = Buffer.from(hmacHex(input.secret, timestamp, input.body), 'hex');
  return timingSafeEqual(expected, Buffer.from(match[1]!, 'hex'));
}

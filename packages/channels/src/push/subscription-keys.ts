import { ECDH } from 'node:crypto';

/**
 * Why a subscription's keys cannot be encrypted to (RFC 8291: p256dh is an
 * uncompressed P-256 point, auth a 16-byte secret), or undefined when they
 * can. Checked before web-push, which would throw the same faults as plain
 * errors, indistinguishable by type from our own.
 */
export function subscriptionKeysProblem(keys: {
  p256dh: string;
  auth: string;
}): string | undefined {
  const p256dh = Buffer.from(keys.p256dh, 'base64url');
  if (p256dh.length !== 65) return `p256dh is ${p256dh.length} bytes, not 65`;
  try {
    ECDH.convertKey(p256dh, 'prime256v1');
  } catch {
    return 'p256dh is not a point on P-256';
  }
  const auth = Buffer.from(keys.auth, 'base64url');
  if (auth.length < 16) return `auth is ${auth.length} bytes, not 16`;
  return undefined;
}

import type { IncomingHttpHeaders } from 'node:http';
import { DeliveryError, type DeliveryErrorCode } from '@herald/core';

/** Socket, DNS and TLS error codes (Node's `err.code`) on the way to a receiver. */
const BY_ERROR_CODE: Record<string, DeliveryErrorCode> = {
  ECONNREFUSED: 'network',
  ECONNRESET: 'network',
  ECONNABORTED: 'network',
  EPIPE: 'network',
  EHOSTUNREACH: 'network',
  EHOSTDOWN: 'network',
  ENETUNREACH: 'network',
  ENETDOWN: 'network',
  ENOTFOUND: 'network',
  EAI_AGAIN: 'network',
  EAI_FAIL: 'network',
  EADDRNOTAVAIL: 'network',
  ETIMEDOUT: 'timeout',
  ESOCKETTIMEDOUT: 'timeout',
  // The receiver's TLS is broken (expired or self-signed certificate, wrong
  // name): its operator can fix it, so retry rather than give up at once.
  CERT_HAS_EXPIRED: 'network',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'network',
  SELF_SIGNED_CERT_IN_CHAIN: 'network',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'network',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'network',
  ERR_TLS_CERT_ALTNAME_INVALID: 'network',
  EPROTO: 'network',
  // undici's own codes.
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  UND_ERR_ABORTED: 'timeout',
  UND_ERR_SOCKET: 'network',
  UND_ERR_CLOSED: 'network',
  UND_ERR_DESTROYED: 'network',
};

/** HTTP statuses whose meaning differs from their class (4xx permanent, 5xx transient). */
const BY_STATUS: Record<number, DeliveryErrorCode> = {
  408: 'timeout',
  429: 'rate_limited',
};

/** Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP date; undefined when absent or invalid. */
export function parseRetryAfterMs(
  value: string | string[] | undefined,
  now: number = Date.now(),
): number | undefined {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!raw) return undefined;
  if (/^\d+$/.test(raw)) return Number(raw) * 1000;
  // HTTP dates name the month ("Sun, 06 Nov 1994 08:49:37 GMT"); Date.parse alone takes "-3" as a year.
  if (!/[a-z]{3}/i.test(raw)) return undefined;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The error for a receiver's answer, or undefined for 2xx. Redirects are not
 * followed (a webhook URL that moved must be changed by its owner, and
 * following one would let a public URL point us at a private address).
 */
export function classifyWebhookStatus(
  status: number,
  headers: IncomingHttpHeaders,
  now: number = Date.now(),
): DeliveryError | undefined {
  if (status >= 200 && status < 300) return undefined;
  const message = `webhook receiver answered HTTP ${status}`;
  if (status >= 300 && status < 400) {
    return new DeliveryError('target_refused', `${message}: redirects are not followed`);
  }
  const known = BY_STATUS[status];
  if (status >= 400 && status < 500 && !known)
    return new DeliveryError('content_rejected', message);
  // What can be retried (429, 408, 5xx and anything outside the defined
  // classes) waits at least as long as the receiver asks (RFC 9110 §10.2.3:
  // a 503 says Retry-After as well as a 429). The answer concerns this
  // receiver, not the whole channel.
  return new DeliveryError(known ?? 'provider_unavailable', message, {
    retryAfterMs: parseRetryAfterMs(headers['retry-after'], now),
    scope: 'recipient',
  });
}

/** Turns what the HTTP exchange threw into a DeliveryError (the guard and the deadline throw one already). */
export function classifyWebhookError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  const code = (err as { code?: unknown } | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  const known = typeof code === 'string' ? BY_ERROR_CODE[code] : undefined;
  return new DeliveryError(known ?? 'provider_unavailable', message, { cause: err });
}

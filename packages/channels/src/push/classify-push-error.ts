import { DeliveryError, type DeliveryErrorCode } from '@herald/core';
import { WebPushError } from 'web-push';
import { PushTimeoutError } from './push-timeout-error';

/** Push service answers (RFC 8030 §5, RFC 8292 §4) and what each means for the delivery. */
const BY_STATUS: Record<number, DeliveryErrorCode> = {
  // Our headers, encryption or VAPID claims (400), our VAPID token (401), or a
  // subscription made with another VAPID key (403): a fault of our
  // configuration if every send gets it, of one subscription if not.
  400: 'provider_refused',
  401: 'provider_refused',
  403: 'provider_refused',
  404: 'subscription_gone', // unknown subscription: delete it
  408: 'timeout',
  410: 'subscription_gone', // the user unsubscribed: delete it
  413: 'content_rejected', // payload over the service's limit (4096 bytes)
  429: 'rate_limited',
};

/** Errors before any HTTP answer: the path to the push service, or our trust in its certificate. */
const BY_ERRNO: Record<string, DeliveryErrorCode> = {
  ECONNREFUSED: 'network',
  ECONNRESET: 'network',
  ECONNABORTED: 'network',
  EPIPE: 'network',
  ENOTFOUND: 'network',
  EAI_AGAIN: 'network',
  EHOSTUNREACH: 'network',
  ENETUNREACH: 'network',
  ETIMEDOUT: 'timeout',
  // The service's certificate chain is unknown to us (NODE_EXTRA_CA_CERTS, proxies).
  DEPTH_ZERO_SELF_SIGNED_CERT: 'provider_refused',
  SELF_SIGNED_CERT_IN_CHAIN: 'provider_refused',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'provider_refused',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'provider_refused',
};

/** Retry-After in delta-seconds or as an HTTP date (RFC 9110 §10.2.3), in ms from now. */
export function parseRetryAfter(
  value: string | string[] | undefined,
  now: number = Date.now(),
): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function classifyStatus(err: WebPushError): DeliveryError {
  const status = err.statusCode;
  const code =
    BY_STATUS[status] ??
    (status >= 400 && status < 500 ? 'provider_refused' : 'provider_unavailable');
  const detail = typeof err.body === 'string' && err.body ? `: ${err.body.slice(0, 200)}` : '';
  return new DeliveryError(code, `push service answered ${status}${detail}`, {
    cause: err,
    retryAfterMs: parseRetryAfter(err.headers?.['retry-after']),
    // A push service throttles one subscription (or one application server
    // on one service), never the whole channel: retry that delivery later.
    scope: 'recipient',
  });
}

/**
 * Turns what web-push's sendNotification rejected with into a DeliveryError:
 * an HTTP answer by status, a socket error by its code, our deadline as a
 * timeout. Anything else that failed before an answer is a network fault.
 */
export function classifyPushError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  if (err instanceof WebPushError) return classifyStatus(err);
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof PushTimeoutError) return new DeliveryError('timeout', message, { cause: err });
  const errno = (err as { code?: unknown } | undefined)?.code;
  const code = typeof errno === 'string' ? BY_ERRNO[errno] : undefined;
  return new DeliveryError(code ?? 'network', message, { cause: err });
}

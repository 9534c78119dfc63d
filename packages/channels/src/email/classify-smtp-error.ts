import { DeliveryError, type DeliveryErrorCode } from '@herald/core';

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
}

/** Nodemailer error codes that say something about us or the path, not the recipient. */
const BY_NODEMAILER_CODE: Record<string, DeliveryErrorCode> = {
  EAUTH: 'misconfigured',
  ENOAUTH: 'misconfigured',
  EOAUTH2: 'misconfigured',
  ETLS: 'misconfigured',
  EREQUIRETLS: 'misconfigured',
  ECONFIG: 'misconfigured',
  ECONNECTION: 'network',
  ESOCKET: 'network',
  EDNS: 'network',
  EPROXY: 'network',
  ETIMEDOUT: 'timeout',
  EPROTOCOL: 'provider_unavailable',
  EMAXLIMIT: 'provider_unavailable',
  // No SMTP reply: nodemailer refused the envelope or message itself.
  EENVELOPE: 'invalid_address',
  EMESSAGE: 'content_rejected',
};

/** SMTP reply codes whose meaning is not "the recipient refused" (RFC 5321 §4.2.3). */
const BY_REPLY_CODE: Record<number, DeliveryErrorCode> = {
  421: 'provider_unavailable', // service not available, closing channel
  454: 'misconfigured', // TLS not available / temporary auth failure
  530: 'misconfigured', // authentication required
  534: 'misconfigured',
  535: 'misconfigured', // authentication credentials invalid
  538: 'misconfigured',
  552: 'content_rejected', // message size exceeds storage allocation
  554: 'recipient_rejected',
};

/**
 * SMTP 4xx is "try again later" (transient), 5xx is "never" (permanent),
 * except the replies above, which describe our configuration or the server.
 */
export function classifySmtpError(err: unknown): DeliveryError {
  const e = err as SmtpError;
  const message = e?.message ?? String(err);
  const reply = typeof e?.responseCode === 'number' ? e.responseCode : undefined;
  if (reply !== undefined) {
    const known = BY_REPLY_CODE[reply];
    if (known) return new DeliveryError(known, message, { cause: err });
    if (reply >= 500) return new DeliveryError('recipient_rejected', message, { cause: err });
    if (reply >= 400) return new DeliveryError('provider_deferred', message, { cause: err });
  }
  const byCode = e?.code ? BY_NODEMAILER_CODE[e.code] : undefined;
  return new DeliveryError(byCode ?? 'provider_unavailable', message, { cause: err });
}

import { DeliveryError, type DeliveryErrorCode } from '@herald/core';

/** What the Bot API answers: `{ok: true, result}` or `{ok: false, error_code, description, parameters?}`. */
export interface TelegramReply {
  ok: boolean;
  result?: unknown;
  error_code?: number;
  description?: string;
  parameters?: {
    /** Seconds to wait before the next request (429). */
    retry_after?: number;
    /** The group became this supergroup: send there instead (400). */
    migrate_to_chat_id?: number;
  };
}

/** Bot API error_code (the HTTP status) → code (core.telegram.org/bots/api#making-requests). */
const BY_ERROR_CODE: Record<number, DeliveryErrorCode> = {
  400: 'content_rejected', // Bad Request: this message, as it is, will never be accepted
  401: 'misconfigured', // Unauthorized: the bot token is wrong or revoked
  403: 'recipient_blocked', // Forbidden: bot blocked by the user, user deactivated, bot kicked from the chat
  404: 'misconfigured', // Not Found: a malformed token or API URL
  429: 'rate_limited', // Too Many Requests: parameters.retry_after
};

/**
 * A 400 says nothing but its description, so the few descriptions that mean
 * something other than "bad content" are matched here, and only here.
 */
const BAD_REQUEST_BY_DESCRIPTION: ReadonlyArray<readonly [RegExp, DeliveryErrorCode]> = [
  [/chat not found/i, 'recipient_not_found'], // "Bad Request: chat not found"
  [/message is too long/i, 'content_too_long'], // "Bad Request: message is too long"
];

/** Classifies a reply that is not `ok`, or a body that is not Bot API JSON at all (`undefined`). */
export function classifyTelegramReply(
  method: string,
  status: number,
  reply: TelegramReply | undefined,
): DeliveryError {
  if (reply === undefined) {
    return new DeliveryError(
      'provider_unavailable',
      `telegram ${method}: HTTP ${status} without a Bot API JSON body`,
    );
  }
  const errorCode = reply.error_code ?? status;
  const description = reply.description ?? `HTTP ${status}`;
  const message = `telegram ${method}: ${errorCode} ${description}`;
  if (reply.parameters?.migrate_to_chat_id !== undefined) {
    // The provider follows one migration itself; a chat that moves again is treated as gone.
    return new DeliveryError('recipient_not_found', message, { cause: reply });
  }
  let code: DeliveryErrorCode = BY_ERROR_CODE[errorCode] ?? 'provider_unavailable';
  if (errorCode === 400) {
    code = BAD_REQUEST_BY_DESCRIPTION.find(([pattern]) => pattern.test(description))?.[1] ?? code;
  }
  if (code === 'rate_limited') {
    const seconds = reply.parameters?.retry_after;
    const retryAfterMs =
      typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0
        ? seconds * 1000
        : undefined;
    // Telegram's limits are the bot's: the whole channel waits, not one delivery.
    return new DeliveryError(code, message, { cause: reply, retryAfterMs, scope: 'provider' });
  }
  return new DeliveryError(code, message, { cause: reply });
}

/** Node socket and DNS error codes → code; anything else on the way is `network`. */
const BY_TRANSPORT_CODE: Record<string, DeliveryErrorCode> = {
  ETIMEDOUT: 'timeout',
  ESOCKETTIMEDOUT: 'timeout',
  ECONNREFUSED: 'network',
  ECONNRESET: 'network',
  EPIPE: 'network',
  ENOTFOUND: 'network',
  EAI_AGAIN: 'network',
  EHOSTUNREACH: 'network',
  ENETUNREACH: 'network',
  // The answer was larger than any Bot API reply.
  ERESPONSETOOLARGE: 'provider_unavailable',
  // TLS that cannot verify will not verify on retry: the URL or CA config is wrong.
  CERT_HAS_EXPIRED: 'misconfigured',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'misconfigured',
  SELF_SIGNED_CERT_IN_CHAIN: 'misconfigured',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'misconfigured',
  ERR_TLS_CERT_ALTNAME_INVALID: 'misconfigured',
  // Node refused to build the request: the token or URL holds characters it cannot carry.
  ERR_UNESCAPED_CHARACTERS: 'misconfigured',
  ERR_INVALID_URL: 'misconfigured',
};

/**
 * Classifies an error from the HTTP exchange itself (no reply). `redact`
 * removes the bot token from the message: the token is part of the URL.
 */
export function classifyTelegramTransportError(
  method: string,
  err: unknown,
  redact: (text: string) => string = (text) => text,
): DeliveryError {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const errCode = typeof e?.code === 'string' ? e.code : undefined;
  const detail = typeof e?.message === 'string' ? e.message : String(err);
  const code = (errCode && BY_TRANSPORT_CODE[errCode]) || 'network';
  return new DeliveryError(code, redact(`telegram ${method}: ${detail}`), { cause: err });
}

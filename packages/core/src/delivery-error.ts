/**
 * The error taxonomy every provider speaks. Providers turn vendor codes into
 * a DeliveryErrorCode; the kind (what the worker does about it) follows from
 * the code through one table, never from message text.
 */
export type DeliveryErrorKind = 'transient' | 'permanent' | 'rate_limited' | 'misconfigured';

const KIND_BY_CODE = {
  // The recipient or the message can never succeed as it is: no retry, DLQ.
  invalid_address: 'permanent',
  recipient_rejected: 'permanent',
  recipient_blocked: 'permanent',
  recipient_not_found: 'permanent',
  subscription_gone: 'permanent',
  content_rejected: 'permanent',
  content_too_long: 'permanent',
  target_refused: 'permanent',
  invalid_payload: 'permanent',
  // The provider or the path to it is unwell: retry with backoff, count towards the breaker.
  provider_unavailable: 'transient',
  provider_deferred: 'transient',
  timeout: 'transient',
  network: 'transient',
  // Refused in a way that points at our configuration but may concern one
  // recipient only (Web Push: each subscription has its own push service and
  // VAPID key). Retried and counted by the breaker: a fault every message
  // shares opens it; one bad subscription fails alone instead of pausing the
  // channel for everyone.
  provider_refused: 'transient',
  // Our credentials or settings are wrong: retrying each message cannot help
  // and would only spend its attempts. The breaker opens at once; the
  // messages wait until a half-open probe finds the configuration fixed.
  misconfigured: 'misconfigured',
  // The provider asked us to slow down.
  rate_limited: 'rate_limited',
} as const satisfies Record<string, DeliveryErrorKind>;

export type DeliveryErrorCode = keyof typeof KIND_BY_CODE;

export interface DeliveryErrorOptions {
  cause?: unknown;
  /** How long the provider asked us to wait (Retry-After, retry_after). */
  retryAfterMs?: number;
  /**
   * Who is throttling, for rate_limited errors: the whole provider (Telegram's
   * bot limit: pause the channel fleet-wide) or one recipient's endpoint (a
   * webhook receiver, a push service: retry that delivery later).
   */
  scope?: 'provider' | 'recipient';
}

export class DeliveryError extends Error {
  readonly kind: DeliveryErrorKind;
  readonly retryAfterMs: number | undefined;
  readonly scope: 'provider' | 'recipient';

  constructor(
    readonly code: DeliveryErrorCode,
    message: string,
    options: DeliveryErrorOptions = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'DeliveryError';
    this.kind = KIND_BY_CODE[code];
    this.retryAfterMs = options.retryAfterMs;
    this.scope = options.scope ?? 'provider';
  }

  get permanent(): boolean {
    return this.kind === 'permanent';
  }
}

/** Anything a provider throws that it did not classify is treated as transient. */
export function toDeliveryError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new DeliveryError('provider_unavailable', message, { cause: err });
}

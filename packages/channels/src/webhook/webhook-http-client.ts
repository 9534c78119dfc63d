import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Agent } from 'undici';
import { DeliveryError } from '@herald/core';
import { checkWebhookTarget, createGuardedLookup } from './ssrf-guard';

export interface WebhookHttpClientOptions {
  /** Allow private, loopback and link-local targets (development and tests only). */
  allowPrivate: boolean;
  /** Deadline for one exchange: connect, request, response headers and body. */
  timeoutMs: number;
  /** Sockets per origin (host:port); unlimited when absent. */
  connections?: number;
}

export interface WebhookResponse {
  status: number;
  headers: IncomingHttpHeaders;
}

export interface WebhookHttpClient {
  /** POSTs `body` to `url`. Rejects with the raw error (or a DeliveryError from the guard or deadline). */
  post(url: string, headers: OutgoingHttpHeaders, body: Buffer): Promise<WebhookResponse>;
  /** Destroys every pooled socket. */
  close(): Promise<void>;
}

/** Idle keep-alive sockets are closed before a typical server's 5 s keep-alive timeout. */
const IDLE_SOCKET_MS = 4_000;

function toHeaderRecord(headers: OutgoingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

/**
 * The deadline is undici's own (connect, headers and body timeouts, each
 * timeoutMs): cheaper than an AbortSignal per request.
 *
 * The webhook transport: one undici agent (keep-alive pools per receiver
 * origin), shared by every send, guarded against private targets: literal IPs
 * are checked before connecting, names where they are resolved (the socket's
 * lookup), so the address checked is the address connected to. undici never
 * follows redirects unless told to.
 */
export function createWebhookHttpClient(options: WebhookHttpClientOptions): WebhookHttpClient {
  const agent = new Agent({
    keepAliveTimeout: IDLE_SOCKET_MS,
    keepAliveMaxTimeout: IDLE_SOCKET_MS,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    ...(options.connections !== undefined ? { connections: options.connections } : {}),
    connect: {
      timeout: options.timeoutMs,
      ...(options.allowPrivate ? {} : { lookup: createGuardedLookup() }),
    },
  });
  let closed = false;

  async function post(
    url: string,
    headers: OutgoingHttpHeaders,
    body: Buffer,
  ): Promise<WebhookResponse> {
    if (closed) throw new DeliveryError('provider_unavailable', 'webhook client is closed');
    const target = checkWebhookTarget(url, options);
    try {
      const response = await agent.request({
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        method: 'POST',
        headers: toHeaderRecord(headers),
        body,
      });
      // Drain the body so the socket goes back to the pool.
      await response.body.dump();
      return { status: response.statusCode, headers: response.headers as IncomingHttpHeaders };
    } catch (err) {
      // A refusal raised in the socket's lookup arrives wrapped by the connector.
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof DeliveryError) throw cause;
      throw err;
    }
  }

  return {
    post,
    async close() {
      closed = true;
      await agent.destroy();
    },
  };
}

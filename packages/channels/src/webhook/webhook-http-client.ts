import type { IncomingHttpHeaders } from 'node:http';
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
  post(url: string, headers: Record<string, string>, body: string): Promise<WebhookResponse>;
  /** Destroys every pooled socket. */
  close(): Promise<void>;
}

/** Idle keep-alive sockets are closed before a typical server's 5 s keep-alive timeout. */
const IDLE_SOCKET_MS = 4_000;

/** Checked targets kept: a campaign posts to the same few receivers again and again. */
const TARGET_CACHE_SIZE = 1000;

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
  // Parsing and checking a URL costs more than the rest of a request's set-up.
  // Only the literal check is cached: names are checked where they resolve.
  const targets = new Map<string, { origin: string; path: string }>();
  function targetOf(url: string): { origin: string; path: string } {
    let target = targets.get(url);
    if (!target) {
      const checked = checkWebhookTarget(url, options);
      target = { origin: checked.origin, path: `${checked.pathname}${checked.search}` };
      if (targets.size >= TARGET_CACHE_SIZE) targets.clear();
      targets.set(url, target);
    }
    return target;
  }

  async function post(
    url: string,
    headers: Record<string, string>,
    body: string,
  ): Promise<WebhookResponse> {
    if (closed) throw new DeliveryError('provider_unavailable', 'webhook client is closed');
    const target = targetOf(url);
    try {
      return await exchange(target, headers, body);
    } catch (err) {
      // A refusal raised in the socket's lookup arrives wrapped by the connector.
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof DeliveryError) throw cause;
      throw err;
    }
  }

  /**
   * One request through undici's dispatcher: the status and headers are all
   * we use, so the body is discarded as it arrives, with no stream or promise
   * per response on the way (the connection goes back to the pool at its end).
   */
  function exchange(
    target: { origin: string; path: string },
    headers: Record<string, string>,
    body: string,
  ): Promise<WebhookResponse> {
    return new Promise((resolve, reject) => {
      let response: WebhookResponse | undefined;
      agent.dispatch(
        { origin: target.origin, path: target.path, method: 'POST', headers, body },
        {
          onRequestStart() {}, // its presence marks this as a handler of undici 7's API
          onResponseStart(_controller, status, responseHeaders) {
            response = { status, headers: responseHeaders }; // the last one: 1xx come first
          },
          onResponseData() {},
          onResponseEnd() {
            if (response) resolve(response);
            else reject(new Error('webhook response ended without a status'));
          },
          onResponseError(_controller, err) {
            reject(err);
          },
        },
      );
    });
  }

  return {
    post,
    async close() {
      closed = true;
      await agent.destroy();
    },
  };
}

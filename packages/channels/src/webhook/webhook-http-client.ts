import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
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

/** A reset on a reused keep-alive socket before any answer: the receiver closed it while idle. */
function isStaleSocket(req: http.ClientRequest, err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE');
}

/**
 * The webhook transport: one keep-alive agent per protocol, shared by every
 * send, guarded against private targets. Built on node:http rather than
 * undici: undici 8 requires Node >= 22.19 and fails to load on Node 20, which
 * Herald supports. Redirects are never followed (node:http does not).
 */
export function createWebhookHttpClient(options: WebhookHttpClientOptions): WebhookHttpClient {
  const agentOptions: https.AgentOptions = {
    keepAlive: true,
    maxSockets: options.connections ?? Infinity,
    timeout: IDLE_SOCKET_MS,
    scheduling: 'lifo',
    // net.connect resolves names through this, so the addresses checked are those connected to.
    ...(options.allowPrivate ? {} : { lookup: createGuardedLookup() }),
  };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent(agentOptions);
  let closed = false;

  function post(url: string, headers: OutgoingHttpHeaders, body: Buffer): Promise<WebhookResponse> {
    if (closed) {
      return Promise.reject(new DeliveryError('provider_unavailable', 'webhook client is closed'));
    }
    let target: URL;
    try {
      target = checkWebhookTarget(url, options);
    } catch (err) {
      return Promise.reject(err);
    }
    const secure = target.protocol === 'https:';
    return new Promise<WebhookResponse>((resolve, reject) => {
      let current: http.ClientRequest | undefined;
      let settled = false;
      const deadline = setTimeout(() => {
        current?.destroy(
          new DeliveryError(
            'timeout',
            `webhook receiver did not answer within ${options.timeoutMs} ms`,
          ),
        );
      }, options.timeoutMs);
      const finish = () => clearTimeout(deadline);

      const attempt = (mayRetryStale: boolean) => {
        const req = (secure ? https : http).request(target, {
          method: 'POST',
          agent: secure ? httpsAgent : httpAgent,
          headers,
        });
        current = req;
        req.on('response', (res) => {
          settled = true;
          // Always drain the body so the socket returns to the pool; the deadline still covers it.
          res.on('error', () => {});
          res.on('end', finish);
          res.on('close', finish);
          res.resume();
          resolve({ status: res.statusCode ?? 0, headers: res.headers });
        });
        req.on('error', (err) => {
          if (settled) return;
          if (mayRetryStale && isStaleSocket(req, err)) return attempt(false);
          settled = true;
          finish();
          reject(err);
        });
        req.end(body);
      };
      attempt(true);
    });
  }

  return {
    post,
    async close() {
      closed = true;
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

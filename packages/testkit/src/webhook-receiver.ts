import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhookSignature } from '@herald/channels';
import { waitFor } from './wait-for';

/** How the receiver answers requests to one path. */
export type WebhookBehaviour =
  /** 200 with an X-Request-Id (the default). */
  | { kind: 'ok' }
  /** Answer `status` (with Retry-After if given) for the first `times` requests, then ok; always when `times` is absent. */
  | { kind: 'status'; status: number; times?: number; retryAfter?: string | number }
  /** Answer 200 after `ms` (the request is recorded when it arrives). */
  | { kind: 'slow'; ms: number }
  /** A redirect (307 unless `status` says otherwise) to `location`. */
  | { kind: 'redirect'; location: string; status?: 301 | 302 | 303 | 307 | 308 };

export interface ReceivedWebhook {
  /** The request path without its leading slash or query, as given to url(). */
  path: string;
  /** The JSON body, parsed (undefined if it was not JSON). */
  body: unknown;
  /** The body as received, for checks over the exact bytes. */
  raw: string;
  headers: IncomingHttpHeaders;
  /** Whether X-Herald-Signature verified with the receiver's secret over the raw body. */
  signatureValid: boolean;
  /** The status the receiver answered. */
  status: number;
  /** Epoch ms when the request was complete. */
  at: number;
}

export interface WebhookReceiverOptions {
  /** The signing secret the sender uses. */
  secret: string;
  /** Verify signatures (default true). */
  verify?: boolean;
  /** 'requests' (default) keeps every request; 'count' only counts them per path (benchmark sink). */
  record?: 'requests' | 'count';
}

const normalise = (path: string) => path.replace(/^\/+/, '').split('?')[0]!;

/**
 * A real HTTP server on 127.0.0.1 and a random port: what the webhook worker
 * posts to in tests and in the benchmark. Verifies and records each request
 * and answers per path as scripted.
 */
export class WebhookReceiver {
  port = 0;
  private server: http.Server | undefined;
  private readonly counts = new Map<string, number>();
  private readonly recorded = new Map<string, ReceivedWebhook[]>();
  private readonly behaviours = new Map<string, { behaviour: WebhookBehaviour; used: number }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private failAllStatus: number | undefined;
  private totalCount = 0;
  private invalidCount = 0;

  constructor(private readonly options: WebhookReceiverOptions) {}

  /** `http://127.0.0.1:<port>/<path>`. */
  url(path = ''): string {
    return `http://127.0.0.1:${this.port}/${normalise(path)}`;
  }

  behave(path: string, behaviour: WebhookBehaviour): void {
    this.behaviours.set(normalise(path), { behaviour, used: 0 });
  }

  /** Answer every request on every path with `status`; undefined restores per-path behaviour. */
  failAll(status: number | undefined): void {
    this.failAllStatus = status;
  }

  /** Requests that reached `path`, whatever the answer. */
  received(path: string): number {
    return this.counts.get(normalise(path)) ?? 0;
  }

  /** Requests on all paths. */
  get total(): number {
    return this.totalCount;
  }

  /** Requests whose signature did not verify (counted in both record modes). */
  get invalidSignatures(): number {
    return this.invalidCount;
  }

  /** The recorded requests to `path` (only when recording requests). */
  requests(path: string): ReceivedWebhook[] {
    if (this.options.record === 'count') {
      throw new Error('this WebhookReceiver only counts requests (record: "count")');
    }
    return this.recorded.get(normalise(path)) ?? [];
  }

  /** Waits until `path` has received `count` requests; resolves with them ([] when only counting). */
  async waitFor(path: string, count = 1, timeoutMs = 10_000): Promise<ReceivedWebhook[]> {
    await waitFor(() => this.received(path) >= count, {
      timeoutMs,
      what: `${count} webhook(s) to /${normalise(path)} (got ${this.received(path)})`,
    });
    return this.options.record === 'count' ? [] : this.requests(path);
  }

  /** Forgets what was received (behaviours stay). */
  clear(): void {
    this.counts.clear();
    this.recorded.clear();
    this.totalCount = 0;
    this.invalidCount = 0;
  }

  async start(): Promise<this> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = normalise(req.url ?? '/');
    const keep = this.options.record !== 'count';
    const chunks: Buffer[] = [];
    if (keep || this.options.verify !== false) req.on('data', (c: Buffer) => chunks.push(c));
    else req.resume();
    req.on('end', () => {
      const status = this.answer(path, res);
      this.counts.set(path, (this.counts.get(path) ?? 0) + 1);
      this.totalCount++;
      if (!keep && this.options.verify === false) return;
      const raw = Buffer.concat(chunks);
      const signatureValid =
        this.options.verify === false ||
        verifyWebhookSignature({
          secret: this.options.secret,
          timestamp: header(req.headers['x-herald-timestamp']),
          signature: header(req.headers['x-herald-signature']),
          body: raw,
        });
      if (!signatureValid) this.invalidCount++;
      if (!keep) return;
      const text = raw.toString('utf8');
      const list = this.recorded.get(path) ?? [];
      list.push({
        path,
        body: parseJson(text),
        raw: text,
        headers: req.headers,
        signatureValid,
        status,
        at: Date.now(),
      });
      this.recorded.set(path, list);
    });
  }

  /** Sends (or schedules) the answer; returns its status. */
  private answer(path: string, res: ServerResponse): number {
    if (this.failAllStatus !== undefined) return reply(res, this.failAllStatus);
    const entry = this.behaviours.get(path);
    const b = entry?.behaviour ?? { kind: 'ok' };
    switch (b.kind) {
      case 'ok':
        return reply(res, 200, { 'X-Request-Id': `rcv-${this.totalCount + 1}` });
      case 'status': {
        entry!.used++;
        if (b.times !== undefined && entry!.used > b.times) {
          return reply(res, 200, { 'X-Request-Id': `rcv-${this.totalCount + 1}` });
        }
        const extra: Record<string, string> =
          b.retryAfter === undefined ? {} : { 'Retry-After': String(b.retryAfter) };
        return reply(res, b.status, extra);
      }
      case 'slow': {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          if (!res.destroyed) reply(res, 200);
        }, b.ms);
        this.timers.add(timer);
        res.on('close', () => {
          clearTimeout(timer);
          this.timers.delete(timer);
        });
        return 200;
      }
      case 'redirect':
        return reply(res, b.status ?? 307, { Location: b.location });
    }
  }
}

function reply(res: ServerResponse, status: number, headers: Record<string, string> = {}): number {
  res.writeHead(status, { ...headers, 'Content-Length': '0' });
  res.end();
  return status;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

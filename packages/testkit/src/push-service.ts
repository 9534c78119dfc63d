import {
  createECDH,
  createPublicKey,
  randomBytes,
  randomUUID,
  verify,
  type ECDH,
  type KeyObject,
} from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { PushSubscription } from '@herald/core';
import { generate } from 'selfsigned';
import { waitFor } from './wait-for';

// http_ece ships no types; this is the one call we make (http_ece 1.2, ece.js `decrypt`).
interface HttpEce {
  decrypt(
    buffer: Buffer,
    params: { version: 'aes128gcm'; privateKey: ECDH; authSecret: string },
  ): Buffer;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ece = require('http_ece') as HttpEce;

/** How the service answers pushes to one subscription. */
export type PushBehaviour =
  | { kind: 'ok' }
  /** Answer `status` (with Retry-After when given) to the next `times` pushes (all when unset), then accept. */
  | { kind: 'status'; status: number; times?: number; retryAfter?: number | string }
  /** Hold the next `times` pushes (all when unset) for `ms` before handling them normally. */
  | { kind: 'slow'; ms: number; times?: number };

/** A push the service accepted (201) and decrypted. */
export interface ReceivedPush {
  subscriptionId: string;
  /** The decrypted body parsed as JSON (the raw text when it is not JSON; undefined when empty). */
  payload: unknown;
  text: string;
  ttl: number;
  urgency: string | undefined;
  topic: string | undefined;
  /** Epoch ms when it was accepted. */
  at: number;
  /** The Location the service answered with. */
  location: string;
}

/** Every POST to a subscription, answered or not. */
export interface PushRequestRecord {
  subscriptionId: string;
  at: number;
  ttl: number | undefined;
  urgency: string | undefined;
  topic: string | undefined;
  /** Undefined while held (slow) or when the client went away before the answer. */
  status: number | undefined;
  /** Why a push was refused, for failing tests to print. */
  reason?: string;
}

export interface PushServiceOptions {
  /** When set, pushes signed with another VAPID key are refused with 403. */
  expectVapidPublicKey?: string;
  /** Largest encrypted body accepted; above it, 413 (RFC 8030 services use 4096). */
  maxBodyBytes?: number;
}

interface Subscription {
  ecdh: ECDH;
  auth: string;
  endpoint: string;
  gone: boolean;
}

type Verdict = { status: number; reason: string } | { status: 201; push: ReceivedPush };

const MAX_JWT_LIFETIME_S = 24 * 60 * 60;
const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  410: 'Gone',
  413: 'Payload Too Large',
};

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `vapid t=<jwt>, k=<key>` (RFC 8292 §3). */
function parseVapidAuthorization(value: string | undefined): { t: string; k: string } | undefined {
  const match = /^vapid\s+(.+)$/i.exec(value ?? '');
  if (!match?.[1]) return undefined;
  const params = new Map(
    match[1].split(',').map((part) => {
      const eq = part.indexOf('=');
      return [part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim()] as const;
    }),
  );
  const t = params.get('t');
  const k = params.get('k');
  return t && k ? { t, k } : undefined;
}

function p256PublicKey(raw: Buffer): KeyObject {
  if (raw.length !== 65 || raw[0] !== 0x04) throw new Error('not an uncompressed P-256 point');
  const jwk = {
    kty: 'EC',
    crv: 'P-256',
    x: raw.subarray(1, 33).toString('base64url'),
    y: raw.subarray(33).toString('base64url'),
  };
  return createPublicKey({ key: jwk, format: 'jwk' });
}

/** Checks the VAPID token as a push service does; returns why it is refused, or undefined. */
function vapidProblem(t: string, k: string, audience: string): string | undefined {
  const [h, p, s] = t.split('.');
  if (!h || !p || !s) return 'token is not a JWS';
  let key: KeyObject;
  let claims: { aud?: unknown; exp?: unknown; sub?: unknown };
  try {
    key = p256PublicKey(Buffer.from(k, 'base64url'));
    const jose = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: unknown };
    if (jose.alg !== 'ES256') return `alg ${String(jose.alg)} is not ES256`;
    claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as typeof claims;
  } catch (err) {
    return `unreadable token or key: ${(err as Error).message}`;
  }
  const signed = Buffer.from(`${h}.${p}`);
  const signature = Buffer.from(s, 'base64url');
  if (!verify('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, signature)) {
    return 'signature does not verify with k';
  }
  const now = Math.floor(Date.now() / 1000);
  if (claims.aud !== audience) return `aud ${String(claims.aud)} is not ${audience}`;
  if (typeof claims.exp !== 'number' || claims.exp <= now) return 'token expired';
  if (claims.exp > now + MAX_JWT_LIFETIME_S) return 'exp more than 24 h ahead';
  if (typeof claims.sub !== 'string' || claims.sub === '') return 'sub missing';
  return undefined;
}

async function readBody(
  req: IncomingMessage,
  limit: number,
): Promise<{ body: Buffer; size: number }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  return { body: Buffer.concat(chunks), size };
}

/**
 * A real Web Push service (RFC 8030) on 127.0.0.1 over HTTPS with a throwaway
 * certificate: verifies VAPID (RFC 8292), decrypts aes128gcm bodies (RFC
 * 8291) with the subscription's private key, and records what arrived.
 * Answers per subscription as scripted. web-push only speaks HTTPS, so
 * clients trust `ca` (an https.Agent, or NODE_EXTRA_CA_CERTS for a child
 * process via `writeCaFile`).
 */
export class PushService {
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly behaviours = new Map<string, { behaviour: PushBehaviour; used: number }>();
  private readonly log: PushRequestRecord[] = [];
  private readonly messages: ReceivedPush[] = [];
  private readonly holds = new Set<{ timer: NodeJS.Timeout; release: () => void }>();
  private failAllStatus: number | undefined;
  private server: https.Server | undefined;
  private pem: string | undefined;
  expectVapidPublicKey: string | undefined;
  port = 0;
  /** TLS connections accepted so far: clients that keep connections alive open few. */
  connections = 0;

  constructor(private readonly options: PushServiceOptions = {}) {
    this.expectVapidPublicKey = options.expectVapidPublicKey;
  }

  /** `https://127.0.0.1:<port>`, the VAPID audience of every endpoint. */
  get origin(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** The certificate (PEM) to trust: it is its own issuer. */
  get ca(): string {
    if (this.pem === undefined) throw new Error('PushService is not started');
    return this.pem;
  }

  /** Writes `ca` to `<dir>/push-service-ca.pem` (for NODE_EXTRA_CA_CERTS) and returns the path. */
  writeCaFile(dir: string): string {
    const file = path.join(dir, 'push-service-ca.pem');
    writeFileSync(file, this.ca);
    return file;
  }

  async start(): Promise<this> {
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notAfterDate: new Date(Date.now() + 24 * 60 * 60 * 1000),
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 7, ip: '127.0.0.1' },
            { type: 2, value: 'localhost' },
          ],
        },
      ],
    });
    this.pem = pems.cert;
    const server = https.createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500).end(err.message);
      });
    });
    server.on('secureConnection', () => (this.connections += 1));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    server.on('error', () => {});
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  /** A browser's subscribe(): fresh P-256 keys and a 16-byte auth secret for subscription `id`. */
  createSubscription(id: string = randomUUID()): PushSubscription {
    if (this.server === undefined) throw new Error('PushService is not started');
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = randomBytes(16).toString('base64url');
    const endpoint = `${this.origin}/push/${encodeURIComponent(id)}`;
    this.subscriptions.set(id, { ecdh, auth, endpoint, gone: false });
    return { endpoint, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth } };
  }

  /** The user unsubscribed: further pushes to `id` get 410 Gone. */
  unsubscribe(id: string): void {
    const subscription = this.subscriptions.get(id);
    if (subscription) subscription.gone = true;
  }

  behave(id: string, behaviour: PushBehaviour): void {
    this.behaviours.set(id, { behaviour, used: 0 });
  }

  /** Answer every push with `status` (a service outage); undefined restores normal service. */
  failAll(status: number | undefined): void {
    this.failAllStatus = status;
  }

  /** Accepted pushes, for one subscription or all. */
  received(id?: string): ReceivedPush[] {
    return this.messages.filter((m) => id === undefined || m.subscriptionId === id);
  }

  /** Every push request, for one subscription or all, in arrival order. */
  requests(id?: string): PushRequestRecord[] {
    return this.log.filter((r) => id === undefined || r.subscriptionId === id);
  }

  waitForMessages(id: string, count = 1, timeoutMs = 10_000): Promise<ReceivedPush[]> {
    return waitFor(() => (this.received(id).length >= count ? this.received(id) : undefined), {
      timeoutMs,
      what: `${count} push message(s) to subscription ${id}`,
    });
  }

  async stop(): Promise<void> {
    for (const hold of this.holds) {
      clearTimeout(hold.timer);
      hold.release();
    }
    this.holds.clear();
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** The scripted behaviour for the next push to `id`, counting it against `times`. */
  private nextBehaviour(id: string): PushBehaviour {
    const entry = this.behaviours.get(id);
    if (!entry || entry.behaviour.kind === 'ok') return { kind: 'ok' };
    const { times } = entry.behaviour;
    if (times !== undefined && entry.used >= times) return { kind: 'ok' };
    entry.used += 1;
    return entry.behaviour;
  }

  private hold(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const hold = {
        timer: setTimeout(() => {
          this.holds.delete(hold);
          resolve();
        }, ms),
        release: resolve,
      };
      this.holds.add(hold);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const match = /^\/push\/([^/?#]+)$/.exec(req.url ?? '');
    const { body, size } = await readBody(req, this.options.maxBodyBytes ?? 4096);
    if (req.method !== 'POST' || !match?.[1]) {
      res.writeHead(404).end();
      return;
    }
    const id = decodeURIComponent(match[1]);
    const ttlHeader = header(req, 'ttl');
    const record: PushRequestRecord = {
      subscriptionId: id,
      at: Date.now(),
      ttl: ttlHeader !== undefined && /^\d+$/.test(ttlHeader) ? Number(ttlHeader) : undefined,
      urgency: header(req, 'urgency'),
      topic: header(req, 'topic'),
      status: undefined,
    };
    this.log.push(record);
    let clientGone = false;
    res.on('close', () => (clientGone = !res.writableFinished));

    const behaviour: PushBehaviour =
      this.failAllStatus !== undefined
        ? { kind: 'status', status: this.failAllStatus }
        : this.nextBehaviour(id);
    if (behaviour.kind === 'status') {
      record.status = behaviour.status;
      record.reason = 'scripted';
      if (behaviour.retryAfter !== undefined)
        res.setHeader('Retry-After', String(behaviour.retryAfter));
      res.writeHead(behaviour.status).end();
      return;
    }
    if (behaviour.kind === 'slow') {
      await this.hold(behaviour.ms);
      if (clientGone || this.server === undefined) return;
    }

    const verdict = this.judge(id, req, body, size, record);
    record.status = verdict.status;
    if ('push' in verdict) {
      this.messages.push(verdict.push);
      res.writeHead(201, { Location: verdict.push.location }).end();
      return;
    }
    record.reason = verdict.reason;
    const error = STATUS_TEXT[verdict.status] ?? 'Error';
    res
      .writeHead(verdict.status, { 'Content-Type': 'application/json' })
      .end(JSON.stringify({ code: verdict.status, error, message: verdict.reason }));
  }

  /** What a real push service would answer, in the order services check. */
  private judge(
    id: string,
    req: IncomingMessage,
    body: Buffer,
    size: number,
    record: PushRequestRecord,
  ): Verdict {
    const subscription = this.subscriptions.get(id);
    if (!subscription) return { status: 404, reason: 'no such subscription' };
    if (subscription.gone) return { status: 410, reason: 'unsubscribed' };

    const vapid = parseVapidAuthorization(header(req, 'authorization'));
    if (!vapid) return { status: 401, reason: 'missing or malformed vapid Authorization' };
    const problem = vapidProblem(vapid.t, vapid.k, new URL(subscription.endpoint).origin);
    if (problem) return { status: 401, reason: `VAPID: ${problem}` };
    if (this.expectVapidPublicKey !== undefined && vapid.k !== this.expectVapidPublicKey) {
      return { status: 403, reason: 'VAPID key is not the one the subscription was made with' };
    }

    if (record.ttl === undefined) return { status: 400, reason: 'TTL header missing or invalid' };
    if (size > (this.options.maxBodyBytes ?? 4096)) {
      return { status: 413, reason: `body of ${size} bytes is over the limit` };
    }
    let text = '';
    if (size > 0 && header(req, 'content-encoding') !== 'aes128gcm') {
      return { status: 400, reason: 'Content-Encoding is not aes128gcm' };
    }
    try {
      if (size > 0)
        text = ece
          .decrypt(body, {
            version: 'aes128gcm',
            privateKey: subscription.ecdh,
            authSecret: subscription.auth,
          })
          .toString('utf8');
    } catch (err) {
      return { status: 400, reason: `cannot decrypt: ${(err as Error).message}` };
    }
    let payload: unknown = text === '' ? undefined : text;
    try {
      payload = JSON.parse(text);
    } catch {
      // Not JSON (or a push without payload): keep the text.
    }
    const push: ReceivedPush = {
      subscriptionId: id,
      payload,
      text,
      ttl: record.ttl,
      urgency: record.urgency,
      topic: record.topic,
      at: Date.now(),
      location: `${this.origin}/message/${randomUUID()}`,
    };
    return { status: 201, push };
  }
}

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { generateRequestDetails, generateVAPIDKeys, getVapidHeaders } from 'web-push';
import type { PushSubscription } from '@herald/core';
import { PushService } from './push-service';
import { waitFor } from './wait-for';

const vapid = { ...generateVAPIDKeys(), subject: 'mailto:ops@herald.test' };

let service: PushService;
let agent: https.Agent;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A push request as web-push would send it, before `change` edits its headers or body. */
function request(
  subscription: PushSubscription,
  payload: string | undefined,
  change: (r: { headers: Record<string, string | number>; body: Buffer | null }) => void = () => {},
): Promise<Answer> {
  const details = generateRequestDetails(subscription, payload, {
    vapidDetails: vapid,
    TTL: 60,
    contentEncoding: 'aes128gcm',
  });
  const r = {
    headers: { ...details.headers } as Record<string, string | number>,
    body: details.body,
  };
  change(r);
  return new Promise((resolve, reject) => {
    const req = https.request(
      details.endpoint,
      { method: 'POST', headers: r.headers, agent },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(r.body ?? undefined);
  });
}

beforeAll(async () => {
  service = await new PushService({ expectVapidPublicKey: vapid.publicKey }).start();
  agent = new https.Agent({ ca: service.ca, keepAlive: true });
});

afterAll(async () => {
  agent.destroy();
  await service.stop();
});

describe('PushService', () => {
  it('accepts a web-push request, decrypts it and answers 201 with a Location', async () => {
    const id = randomUUID();
    const answer = await request(service.createSubscription(id), JSON.stringify({ hello: 'you' }));
    expect(answer.status).toBe(201);
    expect(service.received(id)).toMatchObject([
      { payload: { hello: 'you' }, ttl: 60, urgency: 'normal', location: answer.headers.location },
    ]);
  });

  it('accepts a push without payload', async () => {
    const id = randomUUID();
    expect((await request(service.createSubscription(id), undefined)).status).toBe(201);
    expect(service.received(id)).toMatchObject([{ payload: undefined, text: '' }]);
  });

  it.each([
    [
      'no Authorization',
      /missing or malformed/,
      (h: Record<string, string | number>) => delete h.Authorization,
    ],
    [
      'a signature made with another key',
      /signature does not verify/,
      (h: Record<string, string | number>) =>
        (h.Authorization = String(h.Authorization).replace(
          /k=.*$/,
          `k=${generateVAPIDKeys().publicKey}`,
        )),
    ],
    [
      'a token for another audience',
      /aud https:\/\/push.elsewhere.test/,
      (h: Record<string, string | number>) =>
        (h.Authorization = getVapidHeaders(
          'https://push.elsewhere.test',
          vapid.subject,
          vapid.publicKey,
          vapid.privateKey,
          'aes128gcm',
        ).Authorization),
    ],
    [
      'an expired token',
      /expired/,
      (h: Record<string, string | number>) =>
        (h.Authorization = getVapidHeaders(
          service.origin,
          vapid.subject,
          vapid.publicKey,
          vapid.privateKey,
          'aes128gcm',
          Math.floor(Date.now() / 1000) - 60,
        ).Authorization),
    ],
  ])('refuses %s with 401', async (_, reason, change) => {
    const id = randomUUID();
    const answer = await request(service.createSubscription(id), '{}', (r) => change(r.headers));
    expect(answer.status).toBe(401);
    expect(service.requests(id)).toMatchObject([
      { status: 401, reason: expect.stringMatching(reason) },
    ]);
    expect(service.received(id)).toEqual([]);
  });

  it('refuses a request without TTL, and a body it cannot decrypt, with 400', async () => {
    const subscription = service.createSubscription(randomUUID());
    const noTtl = await request(subscription, '{}', (r) => delete r.headers.TTL);
    expect(noTtl.status).toBe(400);
    const otherKeys = service.createSubscription(randomUUID()).keys;
    const foreign = await request(subscription, '{}', (r) => {
      r.body = generateRequestDetails({ ...subscription, keys: otherKeys }, '{}', {
        vapidDetails: vapid,
        contentEncoding: 'aes128gcm',
      }).body;
    });
    expect(foreign.status).toBe(400);
    expect(JSON.parse(foreign.body)).toMatchObject({ code: 400 });
  });

  it('answers as scripted, for `times` requests, then normally', async () => {
    const id = randomUUID();
    const subscription = service.createSubscription(id);
    service.behave(id, { kind: 'status', status: 429, retryAfter: 3, times: 2 });
    const first = await request(subscription, '{}');
    const second = await request(subscription, '{}');
    const third = await request(subscription, '{}');
    expect([first.status, second.status, third.status]).toEqual([429, 429, 201]);
    expect(first.headers['retry-after']).toBe('3');
    expect(service.requests(id).map((r) => r.status)).toEqual([429, 429, 201]);
  });

  it('lets a child process trust it through NODE_EXTRA_CA_CERTS', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'push-ca-'));
    try {
      const file = service.writeCaFile(dir);
      expect(readFileSync(file, 'utf8')).toBe(service.ca);
      const script = `require('node:https').get(${JSON.stringify(`${service.origin}/`)}, (res) => { console.log(res.statusCode); res.resume(); }).on('error', (e) => { console.log(e.code); });`;
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(
          process.execPath,
          ['-e', script],
          { env: { ...process.env, NODE_EXTRA_CA_CERTS: file } },
          (err, out) => (err ? reject(err) : resolve(out)),
        ),
      );
      expect(stdout.trim()).toBe('404');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops promptly with requests held and connections kept alive', async () => {
    const other = await new PushService().start();
    const otherAgent = new https.Agent({ ca: other.ca, keepAlive: true });
    try {
      const id = randomUUID();
      const subscription = other.createSubscription(id);
      other.behave(id, { kind: 'slow', ms: 60_000 });
      const held = new Promise<string>((resolve) => {
        const req = https.request(subscription.endpoint, { method: 'POST', agent: otherAgent });
        req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
        req.on('response', () => resolve('answered'));
        req.end();
      });
      await waitFor(() => other.requests(id).length > 0, { what: 'the held request' });
      const started = Date.now();
      await other.stop();
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(await held).toBe('ECONNRESET');
    } finally {
      otherAgent.destroy();
    }
  });
});

import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import request from 'supertest';
import { chromium, type Browser } from 'playwright-core';
import {
  bearer,
  createHarness,
  testToken,
  waitFor,
  WebhookReceiver,
  type Harness,
} from '@herald/testkit';

/**
 * Bull Board and the API reference in a real browser (Debian's Chromium,
 * driven by playwright-core): the dashboard shows Herald's queues behind
 * HTTP Basic, and both pages are captured: to a temporary directory, or to
 * docs/ (the README's pictures) with UPDATE_SCREENSHOTS=1, so a plain run
 * leaves the checkout clean.
 */

const CHROMIUM = '/usr/bin/chromium';
const DOCS_DIR = path.join(__dirname, '..', 'docs');
const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
const SCREENSHOTS = ['bull-board.png', 'api-reference.png'];

const ADMIN = { user: 'ops', password: 'screenshot-board-password' };
const SECRET = 'bull-board-browser-webhook-secret';
const writer = testToken('notifications:write', 'bull-board-browser');

const sha256 = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

/** A PNG's width and height, from its IHDR chunk. */
async function pngSize(file: string): Promise<{ width: number; height: number }> {
  const bytes = await readFile(file);
  expect(bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

describe('Bull Board and /docs in Chromium', () => {
  let h: Harness;
  let server: Server;
  let base: string;
  let browser: Browser;
  let receiver: WebhookReceiver;
  let shotsDir: string;
  /** docs/*.png as they were before this run. */
  const committed = new Map<string, string>();

  beforeAll(async () => {
    shotsDir = UPDATE_SCREENSHOTS
      ? DOCS_DIR
      : await mkdtemp(path.join(tmpdir(), 'herald-screenshots-'));
    for (const name of SCREENSHOTS) committed.set(name, await sha256(path.join(DOCS_DIR, name)));
    receiver = await new WebhookReceiver({ secret: SECRET }).start();
    h = await createHarness({ admin: ADMIN });
    server = h.app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    await h?.close();
    await receiver?.stop();
    if (shotsDir && !UPDATE_SCREENSHOTS) await rm(shotsDir, { recursive: true, force: true });
  });

  const send = (body: object) =>
    request(h.app).post('/v1/notifications').set(bearer(writer)).send(body).expect(202);

  it('shows the queues to the operator, refuses everyone else, and is captured', async () => {
    // Emails wait (no email worker here); webhooks are delivered, one is refused for good.
    for (const n of [1, 2, 3]) {
      await send({
        to: { email: `reader-${n}@example.com` },
        channels: ['email'],
        content: { email: { subject: `Receipt ${n}`, text: 'Thanks for your order.' } },
      });
    }
    h.startWebhookWorker({ signingSecret: SECRET });
    receiver.behave('gone', { kind: 'status', status: 410 });
    for (const hook of ['orders', 'orders', 'gone']) {
      await send({
        to: { webhookUrl: receiver.url(hook) },
        channels: ['webhook'],
        content: { webhook: { payload: { event: 'order.paid', hook } } },
      });
    }
    await receiver.waitFor('orders', 2);
    await waitFor(async () => (await h.dlq('webhook').getWaitingCount()) === 1, {
      what: 'the refused webhook in webhook.dlq',
    });

    // Without credentials: the 401 and its Basic challenge reach the browser, which gives up
    // (headless Chromium has no one to ask, so the navigation itself fails).
    const anonymous = await browser.newContext();
    try {
      const page = await anonymous.newPage();
      const answer = page.waitForResponse(`${base}/admin/queues`);
      const navigation = page.goto(`${base}/admin/queues`).catch((err: Error) => err);
      const refused = await answer;
      expect(refused.status()).toBe(401);
      expect(refused.headers()['www-authenticate']).toMatch(/^Basic realm="herald-admin"/);
      const outcome = await navigation;
      if (!(outcome instanceof Error)) expect(outcome?.status()).toBe(401);
    } finally {
      await anonymous.close();
    }

    const operator = await browser.newContext({
      httpCredentials: { username: ADMIN.user, password: ADMIN.password },
      viewport: { width: 1440, height: 900 },
    });
    try {
      const page = await operator.newPage();
      const response = await page.goto(`${base}/admin/queues`);
      expect(response?.status()).toBe(200);
      for (const queue of ['email.transactional', 'webhook.transactional', 'webhook.dlq']) {
        await page.getByText(queue, { exact: true }).first().waitFor({ state: 'visible' });
      }
      // The counts are in: the three waiting emails.
      await page.getByText('3 Jobs', { exact: true }).waitFor({ state: 'visible' });
      await page.screenshot({ path: path.join(shotsDir, 'bull-board.png'), fullPage: true });
      expect((await pngSize(path.join(shotsDir, 'bull-board.png'))).width).toBe(1440);
    } finally {
      await operator.close();
    }
  });

  it('renders the API reference from /openapi.json and is captured', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    try {
      const page = await context.newPage();
      // Deep link: POST /v1/notifications opened, with its request example.
      const response = await page.goto(`${base}/docs#/Notifications/sendNotification`);
      expect(response?.status()).toBe(200);
      await page
        .getByRole('heading', { name: /Herald/ })
        .first()
        .waitFor({ state: 'visible' });
      await page
        .getByText('/v1/notifications/batch', { exact: true })
        .first()
        .waitFor({ state: 'visible' });
      await page.getByText('"password-reset"').first().waitFor({ state: 'visible' });
      await page.screenshot({ path: path.join(shotsDir, 'api-reference.png'), fullPage: true });
      expect((await pngSize(path.join(shotsDir, 'api-reference.png'))).width).toBe(1440);
    } finally {
      await context.close();
    }
  });

  it('writes docs/*.png only when UPDATE_SCREENSHOTS=1', async () => {
    for (const name of SCREENSHOTS) {
      const now = await sha256(path.join(DOCS_DIR, name));
      const written = await sha256(path.join(shotsDir, name));
      // Refreshed on request, otherwise exactly as committed.
      const expected = UPDATE_SCREENSHOTS ? written : committed.get(name);
      expect({ name, docs: now }).toEqual({ name, docs: expected });
    }
  });
});

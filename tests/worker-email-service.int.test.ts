import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import {
  bearer,
  createHarness,
  readEmlFile,
  spawnService,
  TEST_REDIS_URL,
  testToken,
  waitFor,
  type Harness,
  type ServiceProcess,
} from '@herald/testkit';

const token = testToken('notifications:write notifications:read templates:write', 'first-run');

// A real service process started through tsx: slow to start on a loaded 2-core machine.
jest.setTimeout(90_000);

/**
 * services/worker-email as `pnpm start` runs it, with no SMTP_URL: what a new
 * user gets on the first run. The gateway is the harness's (same database,
 * same queue prefix).
 */
describe('worker-email service without SMTP_URL', () => {
  let h: Harness;
  let outboxDir: string;
  let worker: ServiceProcess;

  beforeAll(async () => {
    h = await createHarness();
    outboxDir = path.join(await mkdtemp(path.join(tmpdir(), 'herald-outbox-')), 'var', 'outbox');
    worker = spawnService('worker-email', {
      REDIS_URL: TEST_REDIS_URL,
      DATABASE_URL: h.testDb.url,
      QUEUE_PREFIX: h.prefix,
      EMAIL_OUTBOX_DIR: outboxDir,
      EMAIL_FROM: 'Herald <noreply@herald.test>',
      METRICS_PORT: '0',
    });
  });

  afterAll(async () => {
    worker.kill('SIGTERM');
    const exit = await worker.exited;
    await h.close();
    await rm(path.dirname(path.dirname(outboxDir)), { recursive: true, force: true });
    // Drained and stopped cleanly, not killed.
    expect(exit).toEqual({ code: 0, signal: null });
  });

  const send = (body: object) =>
    request(h.app).post('/v1/notifications').set(bearer(token)).send(body).expect(202);

  /** Waits until the notification is sent, then reads the .eml file of its one delivery. */
  async function sentEml(res: request.Response) {
    const deliveryId: string = res.body.deliveries[0].id;
    const view = await waitFor(
      async () => {
        const n = (
          await request(h.app)
            .get(`/v1/notifications/${res.body.id}`)
            .set(bearer(token))
            .expect(200)
        ).body;
        return n.status === 'sent' ? n : undefined;
      },
      {
        timeoutMs: 60_000,
        intervalMs: 100,
        what: `notification ${res.body.id} sent (worker output: ${worker.output()})`,
      },
    );
    return { view, deliveryId, mail: await readEmlFile(path.join(outboxDir, `${deliveryId}.eml`)) };
  }

  it('writes the email as an .eml file in EMAIL_OUTBOX_DIR and records it sent', async () => {
    const res = await send({
      to: { email: 'ada@example.test' },
      channels: ['email'],
      content: {
        email: {
          subject: 'Your first Herald email',
          text: 'Hello Ada',
          html: '<p>Hello <b>Ada</b></p>',
        },
      },
    });
    const { view, deliveryId, mail } = await sentEml(res);

    expect(await readdir(outboxDir)).toEqual([`${deliveryId}.eml`]);
    expect(mail.parsed.from).toMatchObject({ address: 'noreply@herald.test', name: 'Herald' });
    expect(mail.parsed.to).toEqual([expect.objectContaining({ address: 'ada@example.test' })]);
    expect(mail.parsed.subject).toBe('Your first Herald email');
    expect(mail.parsed.text?.trim()).toBe('Hello Ada');
    expect(mail.parsed.html).toContain('<p>Hello <b>Ada</b></p>');
    expect(mail.header('x-herald-delivery-id')).toBe(deliveryId);

    expect(view.deliveries[0]).toMatchObject({ status: 'sent', attemptsCount: 1 });
    expect(view.deliveries[0].attempts).toEqual([
      expect.objectContaining({ outcome: 'sent', providerMessageId: expect.any(String) }),
    ]);
  });

  it('renders a template changed through the API at the next send (cache invalidated over Redis)', async () => {
    // The service's template cache keeps an entry for 60 s: only the change
    // notification can make the second send use version 2.
    const put = (version: number) =>
      request(h.app)
        .put('/v1/templates/welcome')
        .set(bearer(token))
        .send({
          channels: {
            email: {
              subject: `Welcome v${version}`,
              text: `Hello {{ name }}, this is v${version}`,
            },
          },
        })
        .expect(version === 1 ? 201 : 200);
    const sendWelcome = (email: string) =>
      send({ to: { email }, channels: ['email'], template: 'welcome', data: { name: 'Grace' } });

    await put(1);
    const first = await sentEml(await sendWelcome('v1@example.test'));
    expect(first.mail.parsed.subject).toBe('Welcome v1');
    expect(first.mail.parsed.text?.trim()).toBe('Hello Grace, this is v1');

    expect((await put(2)).body.version).toBe(2);
    const second = await sentEml(await sendWelcome('v2@example.test'));
    expect(second.mail.parsed.subject).toBe('Welcome v2');
    expect(second.mail.parsed.text?.trim()).toBe('Hello Grace, this is v2');
  });
});

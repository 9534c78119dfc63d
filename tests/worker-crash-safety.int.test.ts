import request from 'supertest';
import {
  bearer,
  createHarness,
  SmtpSink,
  spawnService,
  TEST_REDIS_URL,
  testToken,
  waitFor,
  type Harness,
  type ServiceProcess,
} from '@herald/testkit';

const writer = testToken('notifications:write', 'crash-test');

/**
 * The email worker runs as a real process here, so it can be killed: SIGKILL
 * mid-batch loses nothing (stalled jobs are recovered), SIGTERM drains what is
 * in flight and exits.
 */
// Real processes start slowly on a loaded 2-core machine: generous deadlines.
jest.setTimeout(120_000);

describe('worker crash safety', () => {
  let h: Harness;
  let sink: SmtpSink;
  const running: ServiceProcess[] = [];

  beforeEach(async () => {
    sink = await new SmtpSink({ parse: false }).start();
    h = await createHarness();
  });

  afterEach(async () => {
    for (const p of running.splice(0)) {
      p.kill('SIGKILL');
      await p.exited;
    }
    await h.close();
    await sink.stop();
  });

  const startWorker = (extra: Record<string, string> = {}) => {
    const p = spawnService('worker-email', {
      DATABASE_URL: h.testDb.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: h.prefix,
      SMTP_URL: sink.url,
      METRICS_PORT: '0',
      EMAIL_CONCURRENCY: '10',
      JOB_LOCK_MS: '2000',
      STALLED_CHECK_MS: '500',
      RETRY_BASE_MS: '50',
      ...extra,
    });
    running.push(p);
    return p;
  };

  async function accept(count: number, prefix: string): Promise<string[]> {
    const addresses = Array.from({ length: count }, (_, i) => `${prefix}-${i}@example.test`);
    for (const address of addresses) sink.behave(address, { kind: 'slow', ms: 50 });
    for (let i = 0; i < addresses.length; i += 25) {
      await Promise.all(
        addresses.slice(i, i + 25).map((address) =>
          request(h.app)
            .post('/v1/notifications')
            .set(bearer(writer))
            .send({
              to: { email: address },
              channels: ['email'],
              content: { email: { subject: 'S', text: 'T' } },
            })
            .expect(202),
        ),
      );
    }
    return addresses;
  }

  const sentCount = async () =>
    (
      await h.db.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM deliveries WHERE status = 'sent'",
      )
    ).rows[0]!.n;

  it('SIGKILL mid-batch: every notification is delivered; duplicates only for jobs in flight', async () => {
    const addresses = await accept(200, 'kill');
    const first = startWorker();
    await waitFor(() => sink.received.length >= 40, {
      timeoutMs: 20_000,
      what: '40 mails before the kill',
    });
    first.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    startWorker();
    await waitFor(async () => (await sentCount()) === 200, {
      timeoutMs: 45_000,
      what: 'all 200 deliveries sent',
    });

    const perAddress = new Map<string, number>();
    for (const m of sink.received) {
      for (const to of m.envelopeTo) perAddress.set(to, (perAddress.get(to) ?? 0) + 1);
    }
    expect(addresses.filter((a) => !perAddress.has(a))).toEqual([]);
    const duplicates = sink.received.length - 200;
    // At-least-once: only messages in flight at the kill (≤ the worker's concurrency) may repeat.
    expect(duplicates).toBeGreaterThanOrEqual(0);
    expect(duplicates).toBeLessThanOrEqual(10);
    process.stdout.write(`SIGKILL test: ${duplicates} duplicate(s) among 200 deliveries\n`);
    expect(await h.dlq('email').getWaitingCount()).toBe(0);
  });

  it('SIGTERM drains the deliveries in flight, records them, and exits cleanly', async () => {
    await accept(30, 'drain');
    for (let i = 0; i < 30; i++) sink.behave(`drain-${i}@example.test`, { kind: 'slow', ms: 800 });
    const worker = startWorker();
    await waitFor(() => [...sink.attempts.values()].reduce((a, b) => a + b, 0) >= 10, {
      timeoutMs: 20_000,
      what: '10 deliveries in flight',
    });
    worker.kill('SIGTERM');
    const { code } = await worker.exited;
    expect(code).toBe(0);
    // Everything that had started was finished and recorded before the exit…
    const queue = h.queues.get('email.transactional')!;
    expect(await queue.getActiveCount()).toBe(0);
    const sent = await sentCount();
    expect(sent).toBeGreaterThanOrEqual(10);
    expect(sent).toBe(sink.received.length);
    // …and what had not started is still waiting for the next worker.
    expect(await queue.getWaitingCount()).toBe(30 - sent);
  });
});

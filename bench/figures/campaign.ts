import { runChild } from '../lib/child';
import {
  n,
  resetState,
  serviceEnv,
  startGateway,
  startSink,
  serviceReady,
  startWebhookWorker,
  waitUntil,
  type BenchContext,
  benchToken,
  JWT_SECRET,
} from '../lib/context';
import { cpuShare, cpuSnapshot } from '../lib/cpu';

const GATEWAY_PORT = 3992;
const SCHEDULER_OPS_PORT = 3993;
const WORKER_OPS_PORT = 3994;

/**
 * A campaign to a million stored recipients through the webhook channel, end
 * to end: the gateway accepts it, the scheduler expands it page by page
 * (windowed by queue depth), workers send and record. Throughput against the
 * ceiling, and Redis's peak memory while it runs.
 */
export async function campaignFigure(ctx: BenchContext): Promise<void> {
  await resetState(ctx);
  // The ceiling before and after: the campaign runs for minutes, the machine drifts.
  const ceilingBefore = await ctx.ceiling();
  const recipients = n(1_000_000);
  const sink = await startSink('bench/webhook-sink.ts');
  process.stdout.write(`campaign: seeding ${recipients} recipients\n`);
  await ctx.db.pool.query(
    `INSERT INTO recipients (id, webhook_url, tags)
     SELECT 'r' || lpad(i::text, 8, '0'), $2, ARRAY['bench'] FROM generate_series(1, $1::int) AS i`,
    [recipients, `http://127.0.0.1:${sink.port}/campaign`],
  );
  await ctx.db.pool.query('VACUUM ANALYZE recipients');
  const gateway = await startGateway(ctx, GATEWAY_PORT);
  const scheduler = runChild(
    'services/scheduler/src/main.ts',
    serviceEnv(ctx, { JWT_SECRET, METRICS_PORT: String(SCHEDULER_OPS_PORT) }),
    'scheduler',
  );
  const worker = startWebhookWorker(ctx, 'worker-webhook', {
    METRICS_PORT: String(WORKER_OPS_PORT),
  });
  // The clock starts at the campaign's POST: not while the services are still starting.
  await serviceReady(SCHEDULER_OPS_PORT, 'the scheduler');
  await serviceReady(WORKER_OPS_PORT, 'the worker');
  const auth = `Bearer ${benchToken(['campaigns:write', 'campaigns:read'])}`;

  const baseline = await usedMemory(ctx);
  let peak = baseline;
  const sampler = setInterval(() => {
    void usedMemory(ctx).then(
      (m) => (peak = Math.max(peak, m)),
      () => {},
    );
  }, 250);

  const pids = {
    gateway: gateway.process.pid,
    scheduler: scheduler.process.pid,
    worker: worker.process.pid,
    sink: sink.child.process.pid,
  };
  const before = cpuSnapshot(pids);
  const started = performance.now();
  const res = await fetch(`http://127.0.0.1:${GATEWAY_PORT}/v1/campaigns`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'bench',
      channels: ['webhook'],
      audience: { tag: 'bench' },
      content: { webhook: { payload: { event: 'launch' } } },
    }),
  });
  const acceptMs = performance.now() - started;
  if (res.status !== 202) throw new Error(`campaign answered ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  let view: { status: string; counts: Record<string, number> } = { status: '', counts: {} };
  await waitUntil(
    async () => {
      const answer = await fetch(`http://127.0.0.1:${GATEWAY_PORT}/v1/campaigns/${id}`, {
        headers: { authorization: auth },
      });
      view = (await answer.json()) as typeof view;
      return view.status === 'completed';
    },
    3_600_000,
    'the campaign to complete',
    // An operator's pace, not a busy loop: at 20 ms the polling itself took a
    // tenth of a core from the machine being measured (±0.2 s on minutes).
    200,
  );
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const cpu = cpuShare(before, cpuSnapshot(pids), seconds);
  await Promise.all([worker.stop(), scheduler.stop(), gateway.stop(), sink.child.stop()]);
  const ceiling = (ceilingBefore + (await ctx.ceiling())) / 2;
  const perSecond = (view.counts.sent ?? 0) / seconds;
  const ratio = perSecond / ceiling;
  const peakMiB = peak / 2 ** 20;
  ctx.report({
    figure: `campaign to ${recipients.toLocaleString('en')} recipients, deliveries/s end to end`,
    value: perSecond,
    unit: 'deliveries/s',
    target: '>= 50 % of ceiling',
    pass: ratio >= 0.5 && view.counts.sent === recipients,
    detail: {
      recipients,
      seconds,
      acceptMs,
      ceiling,
      ratioOfCeiling: ratio,
      counts: view.counts,
      cpu,
    },
  });
  ctx.report({
    figure: 'campaign: peak Redis memory',
    value: peakMiB,
    unit: 'MiB',
    target: '<= 512 MiB',
    pass: peakMiB <= 512,
    detail: { peakBytes: peak, baselineBytes: baseline },
  });
}

async function usedMemory(ctx: BenchContext): Promise<number> {
  const info = await ctx.redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

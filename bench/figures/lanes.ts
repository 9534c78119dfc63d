import {
  n,
  resetState,
  startGateway,
  startSink,
  startWebhookWorker,
  waitUntil,
  RETRY,
  type BenchContext,
  benchToken,
} from '../lib/context';
import { percentile } from '../lib/measure';
import { seedDeliveries } from '../lib/seed';

/**
 * Transactional latency while a campaign backlog of 50,000 jobs waits on the
 * same channel: 200 single sends through the real gateway at 50/s, timed from
 * the HTTP request to the sink receiving the webhook.
 */
export async function lanesFigure(ctx: BenchContext): Promise<void> {
  await resetState(ctx);
  const backlog = n(50_000);
  const sink = await startSink('bench/webhook-sink.ts');
  process.stdout.write(`lanes: seeding a ${backlog}-job campaign backlog\n`);
  await seedDeliveries({
    db: ctx.db,
    queues: ctx.queues,
    retry: RETRY,
    count: backlog,
    channel: 'webhook',
    lane: 'campaign',
    perJob: 1,
    to: () => ({ url: `http://127.0.0.1:${sink.port}/campaign` }),
    content: { payload: { event: 'newsletter' } },
  });
  const gatewayPort = 3990;
  const gateway = await startGateway(ctx, gatewayPort);
  const worker = startWebhookWorker(ctx);
  const campaignQueue = ctx.queues.get('webhook.campaign')!;
  await waitUntil(
    async () => (await campaignQueue.getWaitingCount()) < backlog - 500,
    60_000,
    'the campaign to start',
  );
  const token = benchToken(['notifications:write']);
  const arrivals = new Map<string, number>();
  sink.child.on('tx', (m) => arrivals.set(String(m.path), Number(m.at)));
  const sentAt = new Map<string, number>();
  const total = 200;
  for (let i = 0; i < total; i++) {
    const path = `/tx/${i}`;
    sentAt.set(path, Date.now());
    void fetch(`http://127.0.0.1:${gatewayPort}/v1/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        to: { webhookUrl: `http://127.0.0.1:${sink.port}${path}` },
        channels: ['webhook'],
        content: { webhook: { payload: { i } } },
      }),
    });
    await new Promise((r) => setTimeout(r, 20)); // load generation: 50 per second, steady
  }
  await waitUntil(() => arrivals.size === total, 60_000, 'every transactional send to arrive');
  const backlogLeft = await campaignQueue.getWaitingCount();
  const latencies = [...sentAt].map(([p, t]) => arrivals.get(p)! - t).sort((a, b) => a - b);
  await worker.stop();
  await gateway.stop();
  await sink.child.stop();
  const p99 = percentile(latencies, 99);
  ctx.report({
    figure: 'transactional p99 under a 50,000-job campaign backlog',
    value: p99,
    unit: 'ms',
    target: '<= 1,000 ms',
    pass: p99 <= 1000 && backlogLeft > 0,
    detail: {
      backlogJobs: backlog,
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99,
      max: latencies.at(-1),
      campaignJobsStillWaitingAtEnd: backlogLeft,
    },
  });
}

import {
  countSent,
  n,
  resetState,
  startSink,
  startWebhookWorker,
  RETRY,
  type BenchContext,
} from '../lib/context';
import { cpuShare, cpuSnapshot } from '../lib/cpu';
import { measureDrain } from '../lib/measure';
import { seedDeliveries } from '../lib/seed';

/**
 * Webhook deliveries end to end with the Postgres ledger: accepted as the
 * batch endpoint does (batch jobs), sent to a local sink, statuses written.
 * One worker process, then two replicas (the machine has two cores).
 */
export async function webhookFigures(ctx: BenchContext): Promise<void> {
  // BENCH_WEBHOOK_REPLICAS=1 (or 2) runs one of the two for a quicker look.
  const counts = (process.env.BENCH_WEBHOOK_REPLICAS ?? '1,2').split(',').map(Number);
  for (const replicas of counts) {
    await resetState(ctx);
    const ceiling = await ctx.ceiling();
    const jobs = n(40_000);
    const sink = await startSink('bench/webhook-sink.ts');
    const label = `${replicas} worker process${replicas > 1 ? 'es' : ''}`;
    process.stdout.write(`webhook (${label}): seeding ${jobs} deliveries\n`);
    await seedDeliveries({
      db: ctx.db,
      queues: ctx.queues,
      retry: RETRY,
      count: jobs,
      channel: 'webhook',
      lane: 'transactional',
      to: () => ({ url: `http://127.0.0.1:${sink.port}/e2e` }),
      content: { payload: { event: 'bench', n: 1 } },
    });
    const workers = Array.from({ length: replicas }, (_, i) =>
      startWebhookWorker(ctx, i === 0 ? 'worker-webhook' : `worker-webhook-${i + 1}`),
    );
    const pids: Record<string, number | undefined> = { sink: sink.child.process.pid };
    workers.forEach((w, i) => (pids[`worker${i + 1}`] = w.process.pid));
    let before = cpuSnapshot(pids);
    const m = await measureDrain([ctx.queues.get('webhook.transactional')!], jobs, {
      onStart: () => (before = cpuSnapshot(pids)),
    });
    const cpu = cpuShare(before, cpuSnapshot(pids), m.seconds);
    await Promise.all(workers.map((w) => w.stop()));
    await sink.child.stop();
    const sent = await countSent(ctx.db, 'webhook');
    const ratio = m.perSecond / ceiling;
    ctx.report({
      figure: `webhook end-to-end deliveries/s, ${label} (Postgres ledger)`,
      value: m.perSecond,
      unit: 'deliveries/s',
      target: '>= 60 % of ceiling',
      pass: ratio >= 0.6 && sent === jobs,
      detail: { ...m, replicas, ceiling, ratioOfCeiling: ratio, sentInPostgres: sent, cpu },
    });
  }
}
